"""The paper's quantitative claims checked against recorded runs: summaries and verdicts.

Book: The paper's claims, checked.

:func:`summarise` reduces runs to one row per model: final (last epoch) and best
(maximum over epochs) accuracy, for train and test, as mean and standard deviation
over seeds, plus parameter counts and hours per run. :func:`check_claims` turns such
summaries into the claims table, each claim with the paper's value, what was measured
and a verdict, by the rules below. Accuracies are in percent.

Verdict rules (``noise`` is the seed spread of a difference, ``sqrt(sd_a^2 + sd_b^2)``
of the final test accuracies; 0 with one seed, where there is no spread):

* a level ("quantum > 95 %", "quantum ~ 90 %"): **holds** when the final *test*
  accuracy meets it, **partly** when only the final *train* accuracy does, **does not
  hold** otherwise; "~ v" means within :data:`APPROX_POINTS` of ``v``;
* a comparison ("quantum above classical"): **holds** when the final test difference
  is positive and larger than ``noise``, **partly** when it is within ``noise``,
  **does not hold** when it is negative beyond ``noise``;
* a claim whose runs are not recorded yet: **not measured**.

With a single seed there is no spread, so any difference decides a comparison; the
measured text then says the verdict is provisional.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import pandas as pd

from .results import RunRecord

__all__ = [
    "APPROX_POINTS",
    "PAPER_ACCURACIES",
    "Claim",
    "PaperAccuracy",
    "Relation",
    "accuracy_table",
    "accuracy_the_paper_plotted",
    "check_claims",
    "mean_and_spread",
    "paper_accuracies_table",
    "paper_accuracy",
    "quantum_versus_classical",
    "summarise",
]

APPROX_POINTS = 3.0
"""How close (percentage points) a measured accuracy must be to count as "~ v"."""
HOLDS, PARTLY, FAILS, MISSING = "holds", "partly", "does not hold", "not measured"
MEASURES = ("final_train", "final_test", "best_train", "best_test")


class Relation(str, Enum):
    """How the paper states an accuracy: above a level, or about a value."""

    ABOVE = ">"
    ABOUT = "~"


@dataclass(frozen=True)
class PaperAccuracy:
    """One accuracy the paper quotes, in percent.

    Attributes:
        source: where the paper states it (``"Figs. 4-5"``).
        experiment, model: the recorded runs it is compared with.
        relation: above (``>``) or about (``~``, within :data:`APPROX_POINTS`).
        value: the quoted accuracy.
    """

    source: str
    experiment: str
    model: str
    relation: Relation
    value: float

    @property
    def text(self) -> str:
        """The quoted value as the paper gives it, e.g. ``"> 95 %"``."""
        return f"{self.relation.value} {self.value:g} %"

    def met_by(self, accuracy: float) -> bool:
        """Whether a measured accuracy (percent) meets the quoted one."""
        if self.relation is Relation.ABOVE:
            return accuracy > self.value
        return abs(accuracy - self.value) <= APPROX_POINTS


PAPER_ACCURACIES: tuple[PaperAccuracy, ...] = (
    PaperAccuracy("Figs. 4-5", "fig4_5", "quantum-L3", Relation.ABOVE, 95.0),
    PaperAccuracy("Figs. 6-7", "fig6_7", "quantum-L3", Relation.ABOUT, 90.0),
    PaperAccuracy("Figs. 6-7", "fig6_7", "classical", Relation.ABOUT, 80.0),
    PaperAccuracy("Fig. 8", "fig8", "classical", Relation.ABOUT, 70.0),
)
"""Every accuracy the paper quotes {cite}`ning2024qpconv`: the one table the claims and the book read."""


def paper_accuracies_table() -> pd.DataFrame:
    """:data:`PAPER_ACCURACIES` as a table: source, experiment, model and the quoted value as the paper writes it."""
    return pd.DataFrame(
        [{"source": q.source, "experiment": q.experiment, "model": q.model, "quoted": q.text} for q in PAPER_ACCURACIES]
    )


def paper_accuracy(experiment: str, model: str) -> PaperAccuracy:
    """The accuracy the paper quotes for ``model`` in ``experiment``.

    Raises:
        KeyError: the paper quotes none.
    """
    for quoted in PAPER_ACCURACIES:
        if (quoted.experiment, quoted.model) == (experiment, model):
            return quoted
    raise KeyError(f"the paper quotes no accuracy for {model} in {experiment}")


def summarise(runs: Sequence[RunRecord], completed_only: bool = True) -> pd.DataFrame:
    """One row per model: accuracies (mean and sd over seeds), parameters, hours per run.

    Book: The paper's claims, checked.

    Args:
        runs: records of one experiment (:func:`qpconv.experiments.load_runs`).
        completed_only: ignore runs that have not finished all their epochs.

    Returns:
        Indexed by ``model``; columns ``seeds``, ``epochs``, for each of
        ``final_train``, ``final_test``, ``best_train``, ``best_test`` a mean (that name)
        and ``<name>_sd`` (percent; sd 0 with one seed, which has no spread), ``parameters``,
        ``quantum_parameters``, ``hours`` (mean wall hours per run) and ``diverged`` (runs of
        the model that diverged: never averaged in; a model whose every run diverged has a
        row with ``seeds`` 0 and no accuracies). Empty when no run qualifies.
    """
    diverged: dict[str, int] = {}
    rows = []
    for run in runs:
        if run.diverged:
            diverged[run.config.model] = diverged.get(run.config.model, 0) + 1
            continue
        if not run.metrics or (completed_only and not run.completed):
            continue
        train = [100 * row["train_acc"] for row in run.metrics]
        test = [100 * row["test_acc"] for row in run.metrics]
        parameters = run.config.parameters
        rows.append(
            {
                "model": run.config.model,
                "seed": run.config.seed,
                "epochs": len(run.metrics),
                "final_train": train[-1],
                "final_test": test[-1],
                "best_train": max(train),
                "best_test": max(test),
                "parameters": parameters.get("total"),
                "quantum_parameters": parameters.get("quantum"),
                "hours": sum(row["seconds"] for row in run.metrics) / 3600,
            }
        )
    columns = [
        "seeds",
        "epochs",
        *[c for m in MEASURES for c in (m, f"{m}_sd")],
        "parameters",
        "quantum_parameters",
        "hours",
        "diverged",
    ]
    if not rows and not diverged:
        return pd.DataFrame(columns=columns).rename_axis("model")
    table = pd.DataFrame(rows, columns=["model", "seed", "epochs", *MEASURES, "parameters", "quantum_parameters", "hours"])
    order = list(dict.fromkeys([*table["model"], *diverged]))
    grouped = table.groupby("model", sort=False)
    summary = grouped[[*MEASURES, "parameters", "quantum_parameters", "hours", "epochs"]].mean()
    spread = grouped[list(MEASURES)].std(ddof=1).fillna(0.0)
    for measure in MEASURES:
        summary[f"{measure}_sd"] = spread[measure]
    summary["seeds"] = grouped["seed"].count()
    summary = summary.reindex(order)
    summary["seeds"] = summary["seeds"].fillna(0).astype(int)
    summary["diverged"] = [diverged.get(model, 0) for model in order]
    return summary[columns]


@dataclass(frozen=True)
class Claim:
    """One row of the claims table.

    Attributes:
        source: where the paper makes it (e.g. ``"Figs. 4-5"``).
        statement: the claim in the paper's terms.
        paper: the paper's value, as text.
        measured: what the recorded runs give, as text.
        verdict: ``"holds"``, ``"partly"``, ``"does not hold"`` or ``"not measured"``.
    """

    source: str
    statement: str
    paper: str
    measured: str
    verdict: str


def mean_and_spread(mean: float, sd: float, seeds: int, digits: int = 1) -> str:
    """``"mean ± sd"`` over seeds, or the bare value for a single seed (which has no spread).

    Book: The paper's claims, checked.
    """
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if seeds > 1 else f"{mean:.{digits}f}"


def _seeds(count: int) -> str:
    return f"{count} seed" if count == 1 else f"{count} seeds"


def _pm(summary: pd.DataFrame, model: str, measure: str) -> str:
    row = summary.loc[model]
    return mean_and_spread(row[measure], row[f"{measure}_sd"], int(row["seeds"]), digits=2)


def _accuracies(summary: pd.DataFrame, model: str) -> str:
    return (
        f"{model}: final train {_pm(summary, model, 'final_train')}, test {_pm(summary, model, 'final_test')}; "
        f"best train {_pm(summary, model, 'best_train')}, test {_pm(summary, model, 'best_test')} "
        f"({_seeds(int(summary.loc[model, 'seeds']))})"
    )


def _level(summary: pd.DataFrame, quoted: PaperAccuracy) -> str:
    if quoted.met_by(summary.loc[quoted.model, "final_test"]):
        return HOLDS
    return PARTLY if quoted.met_by(summary.loc[quoted.model, "final_train"]) else FAILS


def _difference(summary: pd.DataFrame, better: str, worse: str) -> tuple[float, float]:
    """Final test difference ``better - worse`` and its seed noise."""
    a, b = summary.loc[better], summary.loc[worse]
    return a["final_test"] - b["final_test"], math.hypot(a["final_test_sd"], b["final_test_sd"])


def _comparison(difference: float, noise: float) -> str:
    if difference > noise:
        return HOLDS
    return PARTLY if difference >= -noise else FAILS


def _provisional(summary: pd.DataFrame, *models: str) -> str:
    """A warning for the measured text when a compared model has a single seed (no spread)."""
    return " (one seed only, so no spread: provisional)" if min(summary.loc[m, "seeds"] for m in models) < 2 else ""


def _has(summary: pd.DataFrame, *models: str) -> bool:
    """Whether every model has at least one run that did not diverge."""
    return all(model in summary.index and summary.loc[model, "seeds"] > 0 for model in models)


def _level_statement(quoted: PaperAccuracy) -> str:
    """``"quantum accuracy above 95 %"``, ``"classical accuracy ~ 80 %"``."""
    family = quoted.model.split("-")[0]
    relation = "above" if quoted.relation is Relation.ABOVE else "~"
    return f"{family} accuracy {relation} {quoted.value:g} %"


def _two_model_claims(summary: pd.DataFrame, experiment: str, dataset: str, comparison_paper: str) -> list[Claim]:
    claims = []
    for quoted in (q for q in PAPER_ACCURACIES if q.experiment == experiment):
        statement = f"{dataset}: {_level_statement(quoted)}"
        if _has(summary, quoted.model):
            claims.append(
                Claim(quoted.source, statement, quoted.text, _accuracies(summary, quoted.model), _level(summary, quoted))
            )
        else:
            claims.append(Claim(quoted.source, statement, quoted.text, "", MISSING))
    source = claims[0].source
    statement = f"{dataset}: the quantum model is more accurate than the classical one"
    if _has(summary, "quantum-L3", "classical"):
        difference, noise = _difference(summary, "quantum-L3", "classical")
        train = summary.loc["quantum-L3", "final_train"] - summary.loc["classical", "final_train"]
        spread = _provisional(summary, "quantum-L3", "classical") or f" (seed spread {noise:.2f})"
        measured = f"final test difference {difference:+.2f} points{spread}; final train {train:+.2f}"
        claims.append(Claim(source, statement, comparison_paper, measured, _comparison(difference, noise)))
    else:
        claims.append(Claim(source, statement, comparison_paper, "", MISSING))
    return claims


def _parameter_claim(summary: pd.DataFrame) -> Claim:
    statement = "the quantum model has fewer parameters than the classical one"
    if not _has(summary, "quantum-L3", "classical"):
        return Claim("Section IV", statement, "fewer", "", MISSING)
    quantum, classical = summary.loc["quantum-L3", "parameters"], summary.loc["classical", "parameters"]
    angles = summary.loc["quantum-L3", "quantum_parameters"]
    measured = f"{quantum:,.0f} vs {classical:,.0f} in total ({angles:,.0f} circuit angles; {classical - quantum:+,.0f})"
    return Claim("Section IV", statement, "fewer", measured, HOLDS if quantum < classical else FAILS)


def _depth_claims(summary: pd.DataFrame) -> list[Claim]:
    depths = [f"quantum-L{n}" for n in (1, 2, 3, 4)]
    best_statement = "CIFAR-10: four entangling blocks give the most accurate model"
    classical_level = paper_accuracy("fig8", "classical").value
    above_statement = f"CIFAR-10: every quantum depth beats the classical model (~{classical_level:g} %)"
    above_paper = f"all above ~{classical_level:g} %"
    names = {model: f"L{model[-1]}" for model in depths} | {"classical": "classical"}
    recorded = [model for model in names if _has(summary, model)]
    measured = "final test: " + ", ".join(f"{names[m]} {_pm(summary, m, 'final_test')}" for m in recorded)
    if len(recorded) < len(names):
        missing = "not recorded yet: " + ", ".join(names[m] for m in names if m not in recorded)
        text = f"{measured}; {missing}" if recorded else missing
        return [
            Claim("Fig. 8", best_statement, "L = 4 best", text, MISSING),
            Claim("Fig. 8", above_statement, above_paper, text, MISSING),
        ]
    tests = {model: summary.loc[model, "final_test"] for model in depths}
    best = max(tests, key=lambda model: tests[model])
    gap, noise = _difference(summary, "quantum-L4", best) if best != "quantum-L4" else (0.0, 0.0)
    best_verdict = HOLDS if best == "quantum-L4" else (PARTLY if gap >= -noise else FAILS)
    verdicts = [_comparison(*_difference(summary, model, "classical")) for model in depths]
    above_verdict = HOLDS if all(v == HOLDS for v in verdicts) else (FAILS if all(v == FAILS for v in verdicts) else PARTLY)
    caveat = _provisional(summary, *depths, "classical")
    above = measured + "; above classical: " + ", ".join(f"{names[m]} {v}" for m, v in zip(depths, verdicts))
    return [
        Claim("Fig. 8", best_statement, "L = 4 best", f"{measured}; best {names[best]}{caveat}", best_verdict),
        Claim("Fig. 8", above_statement, above_paper, above + caveat, above_verdict),
    ]


def check_claims(fashion_mnist: pd.DataFrame, cifar10: pd.DataFrame, depth: pd.DataFrame) -> pd.DataFrame:
    """The claims table: every quantitative claim of the paper with the measured value and a verdict.

    Book: The paper's claims, checked.

    Args:
        fashion_mnist: :func:`summarise` of the ``fig4_5`` runs.
        cifar10: :func:`summarise` of the ``fig6_7`` runs.
        depth: :func:`summarise` of the ``fig8`` runs.

    Returns:
        One row per claim with columns ``source``, ``statement``, ``paper``, ``measured``,
        ``verdict`` (rules in the module docstring).
    """
    claims = [
        *_two_model_claims(fashion_mnist, "fig4_5", "Fashion-MNIST", "quantum above classical"),
        *_two_model_claims(cifar10, "fig6_7", "CIFAR-10", "~ 90 % vs ~ 80 %"),
        *_depth_claims(depth),
        _parameter_claim(fashion_mnist if _has(fashion_mnist, "quantum-L3", "classical") else cifar10),
    ]
    return pd.DataFrame([claim.__dict__ for claim in claims])


def accuracy_the_paper_plotted(
    summaries: dict[str, pd.DataFrame], quoted: Sequence[PaperAccuracy] = PAPER_ACCURACIES
) -> pd.DataFrame:
    """For each accuracy the paper quotes: is it closer to our final train or final test accuracy?

    Book: The paper's claims, checked.

    Args:
        summaries: ``{experiment: summarise(...)}``.
        quoted: the paper's accuracies, default :data:`PAPER_ACCURACIES`.

    Returns:
        One row per quoted value with the paper's value, our final train and test
        accuracy (means), the distances and ``closer`` (``"train"``/``"test"``); values
        whose model is not recorded are left out.
    """
    rows = []
    for value in quoted:
        experiment, model, paper = value.experiment, value.model, value.value
        summary = summaries.get(experiment)
        if summary is None or model not in summary.index:
            continue
        train, test = summary.loc[model, "final_train"], summary.loc[model, "final_test"]
        rows.append(
            {
                "experiment": experiment,
                "model": model,
                "paper": paper,
                "final_train": train,
                "final_test": test,
                "closer": "train" if abs(paper - train) < abs(paper - test) else "test",
            }
        )
    return pd.DataFrame(rows)


def accuracy_table(summaries: pd.DataFrame | dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Recorded models as display text: accuracies, seeds, sizes, hours.

    Book: The paper's claims, checked.

    Args:
        summaries: one experiment's :func:`summarise`, or ``{experiment: summarise(...)}``
            for several (empty summaries are left out).

    Returns:
        Indexed by ``model``, or by ``(experiment, model)`` for a dict; columns
        ``final_train``, ``final_test``, ``best_train``, ``best_test`` (percent,
        ``"mean ± sd"``, or the bare value for one seed), ``seeds``, ``parameters``,
        ``quantum angles`` and ``hours per run``, and ``diverged runs`` when any run
        diverged (those are counted, never averaged in). Empty when nothing is recorded.
    """
    if isinstance(summaries, pd.DataFrame):
        return _as_display_text(summaries) if len(summaries) else pd.DataFrame()
    recorded = {experiment: _as_display_text(summary) for experiment, summary in summaries.items() if len(summary)}
    return pd.concat(recorded, names=["experiment"]) if recorded else pd.DataFrame()


def _as_display_text(summary: pd.DataFrame) -> pd.DataFrame:
    """One non-empty :func:`summarise` as the display columns of :func:`accuracy_table`, same index."""
    shown = pd.DataFrame(index=summary.index)
    for measure in MEASURES:
        shown[measure] = [
            mean_and_spread(m, s, n, digits=2) if n else "all diverged"
            for m, s, n in zip(summary[measure], summary[f"{measure}_sd"], summary["seeds"])
        ]
    shown["seeds"] = summary["seeds"].astype(int)
    shown["parameters"] = summary["parameters"].map("{:,.0f}".format)
    shown["quantum angles"] = summary["quantum_parameters"].map("{:,.0f}".format)
    shown["hours per run"] = summary["hours"].round(2)
    if summary["diverged"].any():
        shown["diverged runs"] = summary["diverged"].astype(int)
    return shown


def quantum_versus_classical(summary: pd.DataFrame, quantum: str = "quantum-L3", classical: str = "classical") -> str:
    """Two lines comparing the final test and final train accuracies of two models of a summary.

    Book: Replicating Figs. 4-5: Fashion-MNIST.

    Args:
        summary: :func:`summarise` of one experiment.
        quantum, classical: the two models compared (``quantum - classical``).

    Returns:
        ``"final test: quantum a %, classical b %, difference +d points"`` and the same
        for training, or a line saying which model is not recorded yet.
    """
    absent = [model for model in (quantum, classical) if model not in summary.index]
    if absent:
        return "no complete run of " + " and ".join(absent) + " is recorded yet"
    q, c = summary.loc[quantum], summary.loc[classical]
    return "\n".join(
        f"final {split}: quantum {q[f'final_{split}']:.2f} %, classical {c[f'final_{split}']:.2f} %, "
        f"difference {q[f'final_{split}'] - c[f'final_{split}']:+.2f} points"
        for split in ("test", "train")
    )
