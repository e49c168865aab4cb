"""The paper's quantitative claims checked against recorded runs: summaries, intervals and verdicts.

Book: The paper's claims, checked.

:func:`summarise` reduces runs to one row per model: final (last epoch) and best
(maximum over epochs) accuracy, for train and test, as mean and standard deviation
over seeds, plus parameter counts and hours per run. :func:`check_claims` turns such
summaries into the claims table, each claim with the paper's value
(:data:`PAPER_ACCURACIES`, the one table of the values the paper quotes), what was
measured, the 95 % interval the verdict rests on and the verdict. The rule is stated in
:mod:`~qpconv.replication.statistics`: a comparison holds only when the Welch interval
of the difference of final test accuracies excludes 0 in the claimed direction (and
contains a claimed size); a level holds only when the t interval of the mean lies on
its side. A level met by the final *train* accuracy only is "partly". Accuracies are in
percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import pandas as pd

from .models import angle_counts, build_model
from .results import RunRecord
from .statistics import (
    APPROX_POINTS,
    Difference,
    Interval,
    Verdict,
    comparison_verdict,
    interval_from_summary,
    level_verdict,
    welch_from_summary,
)

__all__ = [
    "APPROX_POINTS",
    "PAPER_ACCURACIES",
    "Claim",
    "PaperAccuracy",
    "Relation",
    "accuracy_table",
    "accuracy_the_paper_plotted",
    "check_claims",
    "compare",
    "has_runs",
    "mean_and_spread",
    "overfitting_summary",
    "paper_accuracies_table",
    "paper_accuracy",
    "quantum_versus_classical",
    "summarise",
]

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
        relation: above (``>``) or about (``~``, within :data:`~qpconv.replication.statistics.APPROX_POINTS`).
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
"""Every accuracy the paper quotes :cite:p:`ning2024qpconv`, the one table the claims and the book read."""


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
        runs: records of one experiment (:func:`qpconv.replication.experiments.load_runs`).
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
        measured: what the recorded runs give, as text (means ± sd over seeds).
        interval: the 95 % interval the verdict rests on, with its p-value for a
            comparison (:mod:`~qpconv.replication.statistics`); empty when not measured.
        verdict: a :class:`~qpconv.replication.statistics.Verdict` value.
    """

    source: str
    statement: str
    paper: str
    measured: str
    interval: str
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


def _interval(summary: pd.DataFrame, model: str, measure: str = "final_test") -> Interval:
    row = summary.loc[model]
    return interval_from_summary(row[measure], row[f"{measure}_sd"], int(row["seeds"]))


def compare(summary: pd.DataFrame, a: str, b: str, measure: str = "final_test") -> Difference:
    """Welch's comparison of ``a - b`` on a measure (percentage points) of one :func:`summarise`.

    Book: The paper's claims, checked; "What makes it work?".
    """
    x, y = summary.loc[a], summary.loc[b]
    return welch_from_summary(x[measure], x[f"{measure}_sd"], int(x["seeds"]), y[measure], y[f"{measure}_sd"], int(y["seeds"]))


def has_runs(summary: pd.DataFrame, *models: str) -> bool:
    """Whether every model has runs counted in a :func:`summarise` table (``seeds`` > 0: not diverged, not in progress).

    Book: The paper's claims, checked; "What makes it work?"; Beyond the paper's CNN.
    """
    return all(model in summary.index and summary.loc[model, "seeds"] > 0 for model in models)


def _level_statement(quoted: PaperAccuracy) -> str:
    """``"quantum accuracy above 95 %"``, ``"classical accuracy ~ 80 %"``."""
    family = quoted.model.split("-")[0]
    relation = "above" if quoted.relation is Relation.ABOVE else "~"
    return f"{family} accuracy {relation} {quoted.value:g} %"


def _level_claim(summary: pd.DataFrame, quoted: PaperAccuracy, dataset: str) -> Claim:
    """A quoted accuracy: judged on the test interval; partly when only the train interval meets it."""
    statement = f"{dataset}: {_level_statement(quoted)}"
    if not has_runs(summary, quoted.model):
        return Claim(quoted.source, statement, quoted.text, "", "", Verdict.MISSING.value)
    about = quoted.relation is Relation.ABOUT
    test, train = _interval(summary, quoted.model), _interval(summary, quoted.model, "final_train")
    verdict = level_verdict(test, quoted.value, about)
    if verdict is not Verdict.HOLDS and level_verdict(train, quoted.value, about) is Verdict.HOLDS:
        verdict = Verdict.PARTLY
    interval = f"test {test.text}; train {train.text}"
    return Claim(quoted.source, statement, quoted.text, _accuracies(summary, quoted.model), interval, verdict.value)


def _comparison_claim(
    summary: pd.DataFrame, source: str, statement: str, paper: str, better: str, worse: str, size: float | None = None
) -> Claim:
    if not has_runs(summary, better, worse):
        return Claim(source, statement, paper, "", "", Verdict.MISSING.value)
    test, train = compare(summary, better, worse), compare(summary, better, worse, "final_train")
    measured = (
        f"final test {summary.loc[better, 'final_test']:.2f} vs {summary.loc[worse, 'final_test']:.2f} "
        f"({_seeds(int(summary.loc[better, 'seeds']))} vs {int(summary.loc[worse, 'seeds'])}); "
        f"final train difference {train.difference:+.2f}"
    )
    size_text = (
        f"; the paper's size {size:+g} {'inside' if test.defined and test.low <= size <= test.high else 'outside'}"
        if size
        else ""
    )
    return Claim(
        source, statement, paper, measured, f"test difference {test.text}{size_text}", comparison_verdict(test, 1, size).value
    )


def _two_model_claims(summary: pd.DataFrame, experiment: str, dataset: str) -> list[Claim]:
    quoted = [q for q in PAPER_ACCURACIES if q.experiment == experiment]
    claims = [_level_claim(summary, q, dataset) for q in quoted]
    statement = f"{dataset}: the quantum model is more accurate than the classical one"
    levels = {q.model: q.value for q in quoted}
    if {"quantum-L3", "classical"} <= set(levels):  # the paper states both levels: its difference is a size
        size = levels["quantum-L3"] - levels["classical"]
        paper = f"~ {levels['quantum-L3']:g} % vs ~ {levels['classical']:g} % ({size:+g} points)"
        claims.append(_comparison_claim(summary, quoted[0].source, statement, paper, "quantum-L3", "classical", size))
    else:
        claims.append(
            _comparison_claim(summary, quoted[0].source, statement, "quantum above classical", "quantum-L3", "classical")
        )
    return claims


def _parameter_claim(summary: pd.DataFrame) -> Claim:
    statement = "the quantum model has fewer parameters than the classical one"
    if not has_runs(summary, "quantum-L3", "classical"):
        return Claim("Section IV", statement, "fewer", "", "", Verdict.MISSING.value)
    quantum, classical = summary.loc["quantum-L3", "parameters"], summary.loc["classical", "parameters"]
    angles = summary.loc["quantum-L3", "quantum_parameters"]
    ineffective = (lambda c: c["angles"] - c["effective angles"])(angle_counts(build_model("cifar10", "quantum", n_layers=3)))
    measured = (
        f"{quantum:,.0f} vs {classical:,.0f} in total ({angles:,.0f} circuit angles, of which {ineffective:,.0f} change "
        f"no output; {classical - quantum:+,.0f}, or {classical - quantum + ineffective:+,.0f} counting effective angles)"
    )
    verdict = Verdict.HOLDS if quantum < classical else Verdict.FAILS
    return Claim("Section IV", statement, "fewer", measured, "exact counts", verdict.value)


def _combined(verdicts: list[Verdict]) -> Verdict:
    """All hold: holds; any fails: does not hold; else not resolved."""
    if all(v is Verdict.HOLDS for v in verdicts):
        return Verdict.HOLDS
    return Verdict.FAILS if any(v is Verdict.FAILS for v in verdicts) else Verdict.UNRESOLVED


def _depth_claims(summary: pd.DataFrame) -> list[Claim]:
    depths = [f"quantum-L{n}" for n in (1, 2, 3, 4)]
    names = {model: f"L{model[-1]}" for model in depths} | {"classical": "classical"}
    classical_level = paper_accuracy("fig8", "classical")
    best_statement = "CIFAR-10: four entangling blocks give the most accurate model"
    above_statement = f"CIFAR-10: every quantum depth beats the classical model ({classical_level.text})"
    above_paper = f"all above {classical_level.text}"
    recorded = [model for model in names if has_runs(summary, model)]
    measured = "final test: " + ", ".join(f"{names[m]} {_pm(summary, m, 'final_test')}" for m in recorded)
    level = _level_claim(summary, classical_level, "CIFAR-10 (Fig. 8)")
    if len(recorded) < len(names):
        missing = "not recorded yet: " + ", ".join(names[m] for m in names if m not in recorded)
        text = f"{measured}; {missing}" if recorded else missing
        return [
            Claim("Fig. 8", best_statement, "L = 4 best", text, "", Verdict.MISSING.value),
            Claim("Fig. 8", above_statement, above_paper, text, "", Verdict.MISSING.value),
            level,
        ]
    against_l4 = {m: compare(summary, "quantum-L4", m) for m in depths[:3]}
    best_verdict = _combined([comparison_verdict(d) for d in against_l4.values()])
    best_interval = "; ".join(f"L4 - {names[m]} {d.text}" for m, d in against_l4.items())
    against_classical = {m: compare(summary, m, "classical") for m in depths}
    above_verdict = _combined([comparison_verdict(d) for d in against_classical.values()])
    above_interval = "; ".join(f"{names[m]} - classical {d.text}" for m, d in against_classical.items())
    return [
        Claim("Fig. 8", best_statement, "L = 4 best", measured, best_interval, best_verdict.value),
        Claim("Fig. 8", above_statement, above_paper, measured, above_interval, above_verdict.value),
        level,
    ]


def check_claims(
    fashion_mnist: pd.DataFrame, cifar10: pd.DataFrame, depth: pd.DataFrame, extra: Sequence[Claim] = ()
) -> pd.DataFrame:
    """The claims table: every quantitative claim of the paper with the measured value, its interval and a verdict.

    Book: The paper's claims, checked.

    Args:
        fashion_mnist: :func:`summarise` of the ``fig4_5`` runs.
        cifar10: :func:`summarise` of the ``fig6_7`` runs.
        depth: :func:`summarise` of the ``fig8`` runs.
        extra: rows judged elsewhere, appended last (the controls chapter's
            :func:`~qpconv.replication.controls.same_form_claim`).

    Returns:
        One row per claim with columns ``source``, ``statement``, ``paper``, ``measured``,
        ``interval`` and ``verdict`` (rules: :mod:`~qpconv.replication.statistics`).
    """
    claims = [
        *_two_model_claims(fashion_mnist, "fig4_5", "Fashion-MNIST"),
        *_two_model_claims(cifar10, "fig6_7", "CIFAR-10"),
        *_depth_claims(depth),
        _parameter_claim(fashion_mnist if has_runs(fashion_mnist, "quantum-L3", "classical") else cifar10),
        *extra,
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


def overfitting_summary(runs: Sequence[RunRecord]) -> pd.DataFrame:
    """When each model's test loss was lowest, and how far it rose by the end, over its complete runs.

    Book: Replicating Figs. 4-5, 6-7 (section "Overfitting"); Replication notes (Epochs).

    Returns:
        Indexed by ``model``: ``best epochs`` (the range over seeds of the epoch of lowest
        test loss, e.g. ``"8-11"``), ``lowest test loss`` and ``final test loss`` (ranges
        over seeds), ``final train accuracy`` (mean, percent) and ``seeds``.
    """
    rows: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        if run.completed and run.metrics:
            losses = [row["test_loss"] for row in run.metrics]
            best = min(range(len(losses)), key=losses.__getitem__)
            rows.setdefault(run.config.model, []).append(
                {
                    "epoch": run.metrics[best]["epoch"],
                    "lowest": losses[best],
                    "final": losses[-1],
                    "train": 100 * run.metrics[-1]["train_acc"],
                }
            )

    def span(values: list[float], digits: int) -> str:
        low, high = min(values), max(values)
        return f"{low:.{digits}f}" if round(low, digits) == round(high, digits) else f"{low:.{digits}f}-{high:.{digits}f}"

    table = [
        {
            "model": model,
            "best epochs": span([r["epoch"] for r in seeds], 0),
            "lowest test loss": span([r["lowest"] for r in seeds], 2),
            "final test loss": span([r["final"] for r in seeds], 2),
            "final train accuracy": round(sum(r["train"] for r in seeds) / len(seeds), 2),
            "seeds": len(seeds),
        }
        for model, seeds in rows.items()
    ]
    return pd.DataFrame(table, columns=["model", "best epochs", "lowest test loss", "final test loss",
                                        "final train accuracy", "seeds"]).set_index("model")  # fmt: skip
