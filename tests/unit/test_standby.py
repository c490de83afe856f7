"""A standby unit's status: parsed when the config changes, kept otherwise, new code re-parses."""

from __future__ import annotations

import dataclasses

from ops import testing

from tests.unit.shared import DEFAULT_SUMMARY, DEFAULTS, MODEL

STANDBY = " · standby, the leader applies"
OWNER = "KubeflowSpotCharm/StandbyStatus[standby-status]"


def standby(**config: object) -> testing.State:
    return testing.State(leader=False, config=config, model=testing.Model(name=MODEL))


def remembered(state: testing.State, summary: str) -> testing.State:
    """Return the state with the unit remembering `summary` for the options it has now."""
    options = DEFAULTS | dict(state.config)
    stored = testing.StoredState(
        owner_path=OWNER, content={"options": options, "blocked": "", "summary": summary}
    )
    return dataclasses.replace(state, stored_states={stored})


def test_a_standby_with_invalid_config_is_blocked_naming_the_option(ctx):
    out = ctx.run(ctx.on.config_changed(), standby(**{"retry-on": "failures"}))

    assert out.unit_status.name == "blocked"
    assert (
        "retry-on='failures' is invalid: one of evictions, errors, all" in out.unit_status.message
    )


def test_a_standby_says_again_what_it_said_for_the_same_options(ctx):
    out = ctx.run(ctx.on.update_status(), remembered(standby(), "said before"))

    assert out.unit_status == testing.ActiveStatus(f"said before{STANDBY}")


def test_a_standby_parses_options_that_changed(ctx):
    state = remembered(standby(), "said before")

    out = ctx.run(ctx.on.config_changed(), dataclasses.replace(state, config={"retry-limit": 99}))

    assert out.unit_status.name == "blocked"
    assert "retry-limit=99" in out.unit_status.message


def test_new_code_parses_again_though_the_options_are_the_same(ctx):
    out = ctx.run(ctx.on.upgrade_charm(), remembered(standby(), "worded by the old code"))

    assert out.unit_status == testing.ActiveStatus(f"{DEFAULT_SUMMARY}{STANDBY}")
