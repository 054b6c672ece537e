"""What an environment declares so that nothing above ``envs/`` needs its names.

Orchestration (``cfmarl train / evaluate / tune / scale``, validation, best-checkpoint
selection, progress lines and plots) reads an env only through these declarations
and the array core's generic attributes (``n_agents``, ``obs_dim``, ``n_costs``,
``action_dim`` + ``action_bounds`` or ``n_actions``, ``graph_kind``). Pure Python:
no numpy arrays, torch or ray here.

* :class:`KPI` - one headline KPI: the key of the core's ``summary_kpis`` (episode
  mean), its unit, which direction is better and a label for tables and plots.
* :class:`Constraint` - what the learners constrain: the mean per-agent cost
  ``infos[a]["cost"]`` (the harness column ``mean_cost``), what it means, and the
  judged limit an experiment uses unless it sets ``evaluation.cost_limit``.
* :class:`ScaleAxes` - the config fields a scaling study sweeps (``64x16`` =
  ``num_aps x num_ues``), plus an optional function for the fields that must
  follow the size (e.g. the area at constant AP density).
* :class:`Record` - a per-user (per-node) outcome of ``core.user_records`` drawn as a
  CDF in the evaluation figure, optionally with a reference line from a config field.
* :class:`EnvDeclaration` - all of the above plus the progress-line columns, the
  evaluation table and, optionally, env-specific figures (``"module:function"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BETTER = ("higher", "lower", "none")


@dataclass(frozen=True)
class KPI:
    name: str  # key of core.summary_kpis (and of the training metric kpi/<name>)
    unit: str = ""  # e.g. "bit/s/Hz"; "" for counts and fractions
    better: str = "higher"  # higher | lower | none
    label: str = ""  # short human label; defaults to the name
    fmt: str = "{:.3f}"  # how tables print it

    def __post_init__(self) -> None:
        if self.better not in BETTER:
            raise ValueError(f"KPI {self.name!r}: better must be one of {', '.join(BETTER)}, got {self.better!r}")

    @property
    def title(self) -> str:
        text = self.label or self.name
        return f"{text} [{self.unit}]" if self.unit else text


@dataclass(frozen=True)
class Constraint:
    label: str  # what the per-agent cost measures, e.g. "normalised SE shortfall"
    limit: float  # judged limit of the mean per-agent cost (experiments may override it)
    unit: str = ""


@dataclass(frozen=True)
class ScaleAxes:
    fields: tuple[str, ...]  # config fields swept, in the order of a size string "AxB..."
    label: str  # e.g. "APs x UEs"
    # (config of the scenario, sizes tuple) -> extra overrides that must follow the size
    follow: Callable[[Any, tuple[int, ...]], dict] | None = None

    def parse(self, text: str) -> tuple[int, ...]:
        """``"64x16"`` -> (64, 16), with an error naming the expected form."""
        form = "x".join(f.upper() for f in self.fields)
        try:
            values = tuple(int(v) for v in str(text).lower().split("x"))
        except ValueError:
            raise ValueError(f"scale.sizes: {text!r} is not {form} (integers)") from None
        if len(values) != len(self.fields) or any(v < 1 for v in values):
            raise ValueError(f"scale.sizes: {text!r} must be {len(self.fields)} positive integers {form} "
                             f"({self.label})")
        return values

    def overrides(self, config: Any, text: str) -> dict:
        values = self.parse(text)
        out = dict(zip(self.fields, values))
        if self.follow is not None:
            out.update(self.follow(config, values))
        return out


@dataclass(frozen=True)
class Record:
    name: str  # key of core.user_records
    label: str
    reference_field: str = ""  # config field drawn as a vertical line (e.g. the SE target)


@dataclass(frozen=True)
class EnvDeclaration:
    kpis: tuple[KPI, ...]  # evaluation table, in order (episode means of core.summary_kpis)
    constraint: Constraint
    progress: tuple[str, ...]  # KPI names on the training progress line and learning-curve panels
    scale: ScaleAxes
    episode_length: str = "episode_length"  # the config field holding the decisions per episode
    records: tuple[Record, ...] = ()  # per-user outcomes drawn as CDFs in the evaluation figure
    # env-specific figures replacing the generic one: (file name, "module:function"), the function
    # called as f(results, summaries, config, title, path)
    plots: tuple[tuple[str, str], ...] = ()
    bars: tuple[str, ...] = field(default=())  # KPIs drawn as bars (default: the first four of kpis)
    # observation components an agent computes from its 1-hop neighbours (mean-field terms, e.g. MF-TDMA's
    # neighbour-mean queue features): the "without mean field" ablations of the offline methods drop them
    neighbour_features: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        names = [k.name for k in self.kpis]
        for group, items in (("progress", self.progress), ("bars", self.bars)):
            bad = [p for p in items if p not in names]
            if bad:
                raise ValueError(f"EnvDeclaration.{group}: {bad} are not declared KPIs ({', '.join(names)})")

    def kpi(self, name: str) -> KPI:
        for k in self.kpis:
            if k.name == name:
                return k
        raise KeyError(name)

    @property
    def bar_kpis(self) -> tuple[KPI, ...]:
        return tuple(self.kpi(n) for n in self.bars) if self.bars else self.kpis[:4]


def action_levels(core) -> tuple[int, ...] | None:
    """The core's optional ``action_levels`` (one int per action component of an agent: 0 = continuous,
    L >= 2 = read only as one of L evenly spaced levels), or None when it declares no quantised component."""
    levels = getattr(core, "action_levels", None)
    if levels is None or not any(int(v) for v in levels):
        return None
    return tuple(int(v) for v in levels)
