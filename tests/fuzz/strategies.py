"""Hypothesis strategies for the charm's options, aimed at the edges of the grammars.

Each option strategy mixes values a careful operator writes (valid by Kubernetes' and Go's own
rules, up to their limits), the near misses that slip past a hand-written regex (a trailing or
embedded newline, a Unicode digit, a prefix one byte too long, a fraction that rounds to 0s) and
arbitrary text, so a run exercises both sides of every boundary the oracles draw.
"""

from __future__ import annotations

from hypothesis import strategies as st

# Config values reach the charm as YAML strings: no lone surrogates, no NUL.
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
_WHITESPACE = st.sampled_from(["\n", " ", "\t", "\r\n", "\u00a0", "\u2028", "\u3000", "\v"])
# Digits that str.isdigit(), \d and float() accept but Go does not.
_UNICODE_DIGITS = st.sampled_from(["٥", "５", "۵", "߅", "५", "১", "๕", "𝟓", "²"])
_UNITS = st.sampled_from(["ns", "us", "µs", "μs", "ms", "s", "m", "h"])
_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def _mangle(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Insert whitespace or a Unicode digit somewhere into a valid value."""

    @st.composite
    def mangled(draw: st.DrawFn) -> str:
        value = draw(valid)
        at = draw(st.integers(0, len(value)))
        insert = draw(
            st.one_of(
                _WHITESPACE, _UNICODE_DIGITS, st.sampled_from(["_", ".", "-", "/", "=", ":", "A"])
            )
        )
        return value[:at] + insert + value[at:]

    return mangled()


@st.composite
def _go_duration(draw: st.DrawFn) -> str:
    r"""Draw a string of Go's time.ParseDuration grammar: [-+]?([0-9]*(\.[0-9]*)?unit)+."""
    sign = draw(st.sampled_from(["", "", "", "+", "-"]))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        whole = draw(
            st.one_of(st.integers(0, 100).map(str), st.integers(0, 10**20).map(str), st.just(""))
        )
        fraction = draw(
            st.one_of(st.just(""), st.text("0123456789", max_size=12).map(lambda f: "." + f))
        )
        if not whole and fraction in ("", "."):
            whole = "1"
        parts.append(whole + fraction + draw(_UNITS))
    return sign + "".join(parts)


_DURATION_EDGES = st.sampled_from(
    [
        "5m", "30s", "1h30m", "24h", "24h0m0.000000001s", "86400s", "86401s", "1440m", "168h",
        "168h1ns", "0.0000000001s", "0.000000001s", "1ns", "0.5ns", "500ms", "1us", ".5h",
        "+5m", "-5m", "0", "0s", "+0", "300", "5", "5.", ".s", "1.5.5s", "5m\n", "\n5m",
        "5\nm", "٥m", "５m", "1h٥m", "1e3s", "1_000s", "5M", "5 m", "inf", "nan", "5min",
        "9223372036854775807ns", "9223372036854775808ns", "2562047h", "2562048h",
    ]
)  # fmt: skip

DURATIONS = st.one_of(_DURATION_EDGES, _go_duration(), _mangle(_go_duration()), _TEXT)


def _dns_label(min_size: int = 1, max_size: int = 63) -> st.SearchStrategy[str]:
    @st.composite
    def label(draw: st.DrawFn) -> str:
        size = draw(st.one_of(st.integers(min_size, max_size), st.sampled_from([1, 62, 63, 64])))
        if size == 1:
            return draw(st.sampled_from(_LOWER_ALNUM))
        middle = draw(st.text(_LOWER_ALNUM + "-", min_size=size - 2, max_size=size - 2))
        return draw(st.sampled_from(_LOWER_ALNUM)) + middle + draw(st.sampled_from(_LOWER_ALNUM))

    return label()


@st.composite
def _dns_subdomain(draw: st.DrawFn) -> str:
    """Dot-joined DNS labels, sized around the 253-character limit as often as not."""
    if draw(st.booleans()):
        labels = draw(st.lists(_dns_label(1, 12), min_size=1, max_size=4))
        return ".".join(labels)
    # Four labels of up to 63: 4*63+3 = 255, so the 253 limit falls inside the range drawn.
    sizes = [63, 63, 63, draw(st.integers(55, 63))]
    return ".".join(draw(_dns_label(s, s)) for s in sizes)


@st.composite
def _label_name(draw: st.DrawFn) -> str:
    """Draw a label name or value: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, near 63 too."""
    alnum = "ABCXYZabcxyz0123456789"
    size = draw(st.one_of(st.integers(1, 20), st.sampled_from([62, 63, 64])))
    if size == 1:
        return draw(st.sampled_from(alnum))
    middle = draw(st.text(alnum + "-_.", min_size=size - 2, max_size=size - 2))
    return draw(st.sampled_from(alnum)) + middle + draw(st.sampled_from(alnum))


@st.composite
def _label_key(draw: st.DrawFn) -> str:
    name = draw(_label_name())
    if draw(st.booleans()):
        return draw(_dns_subdomain()) + "/" + name
    return name


_LABEL_VALUES = st.one_of(st.just(""), _label_name())
LABEL_KEYS = st.one_of(_label_key(), _mangle(_label_key()), _TEXT)
LABEL_VALUES = st.one_of(_LABEL_VALUES, _mangle(_label_name()), _TEXT)

_EFFECTS = st.sampled_from(
    ["NoSchedule", "PreferNoSchedule", "NoExecute", "noschedule", "NoSchedule\n", ""]
)


@st.composite
def _node_label_option(draw: st.DrawFn) -> str:
    return (
        draw(LABEL_KEYS)
        + draw(st.sampled_from(["=", "=", "\n=", "=\n", ":", ""]))
        + draw(LABEL_VALUES)
    )


@st.composite
def _taint_option(draw: st.DrawFn) -> str:
    key = draw(LABEL_KEYS)
    value = draw(st.one_of(st.none(), LABEL_VALUES))
    key_value = key if value is None else key + draw(st.sampled_from(["=", "=", "\n="])) + value
    return key_value + draw(st.sampled_from([":", ":", "\n:", ": "])) + draw(_EFFECTS)


NODE_LABELS = st.one_of(_node_label_option(), _TEXT)
TAINTS = st.one_of(_taint_option(), st.sampled_from(["none", "None", "none\n"]), _TEXT)
CONFIGMAP_NAMES = st.one_of(_dns_subdomain(), _mangle(_dns_subdomain()), _TEXT)

_HUGE = st.integers(60_000, 80_000).map(lambda n: "x" * n)
_WORKLOAD_NAMES = st.sampled_from(
    [
        "pipelines",
        "training",
        "hpo",
        "batch",
        "notebooks",
        "serving",
        "Training",
        "pipelines\n",
        "ｐipelines",
    ]
)
WORKLOADS = st.one_of(
    st.lists(_WORKLOAD_NAMES, max_size=4).map(",".join),
    st.lists(_WORKLOAD_NAMES, max_size=4).map(lambda names: " , ".join(names) + ","),
    _HUGE,
    _TEXT,
)

_INTS = st.one_of(st.integers(-2, 25), st.sampled_from([2**31, 2**63, -(2**63), 10**30]))

# The options the charm reads, each with the values to try; a case sets a random subset.
OPTIONS: dict[str, st.SearchStrategy[object]] = {
    "spot-workloads": WORKLOADS,
    "spot-placement": st.one_of(
        st.sampled_from(["require", "prefer", "tolerate", "Require", "prefer\n"]), _TEXT
    ),
    "spot-profile": st.sampled_from(
        ["aks", "eks", "gke", "karpenter", "custom", "AKS", "aks\n", "azure"]
    ),
    "spot-node-label": NODE_LABELS,
    "spot-node-taint": TAINTS,
    "retry-limit": _INTS,
    "spot-fallback-after": _INTS,
    "retry-backoff": DURATIONS,
    "retry-backoff-factor": _INTS,
    "retry-max-duration": st.one_of(st.just(""), DURATIONS),
    "retry-on": st.sampled_from(["evictions", "errors", "all", "none", "Evictions"]),
    "argo-version": st.sampled_from(
        ["3.4", "3.5", "3.6", "3.7", "v3.7.17", "4.0", "3.3", "3.7\n", "３.7"]
    ),
    "argo-configmap": CONFIGMAP_NAMES,
}


@st.composite
def option_sets(draw: st.DrawFn) -> dict[str, object]:
    """Draw a config: one edge value among defaults, or several options at once.

    Half the cases set one option only, so one edge meets an otherwise working config and
    reaches the cluster when the charm accepts it; the rest combine up to five.
    """
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(OPTIONS)))
        return {name: draw(OPTIONS[name])}
    names = draw(st.lists(st.sampled_from(sorted(OPTIONS)), min_size=2, max_size=5, unique=True))
    return {name: draw(OPTIONS[name]) for name in names}


ISSUE_CASES: list[dict[str, object]] = [
    {"spot-node-taint": "kubernetes.azure.com/scalesetpriority\n=spot:NoSchedule"},
    {"spot-node-label": "kubernetes.azure.com/scalesetpriority\n=spot"},
    {"spot-node-taint": "k=v\n:NoSchedule"},
    {"spot-node-label": ".".join(["a" * 63] * 3 + ["a" * 61 + "f"]) + "/x=y"},
    {"retry-backoff": "٥m"},
    {"retry-backoff": "５m"},
    {"retry-backoff": "1h٥m"},
    {"retry-backoff": "0.0000000001s"},
    {"retry-backoff": "500ms"},
    {"retry-backoff": ".5h"},
    {"retry-backoff": "+5m"},
    {"retry-backoff": "1us", "retry-max-duration": "5m"},
    {"retry-backoff": "0s", "retry-max-duration": "5m"},
    {"spot-workloads": "x" * 70000},
    {"argo-configmap": "a" * 63},
]
"""The values issue 11 reports, tried before the drawn ones."""
