"""Building the .charm without charmcraft, and running its dispatch as a Juju unit would."""
