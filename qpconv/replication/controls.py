"""Is it the circuit? The quantum block against its controls, and the ingredients they isolate.

Book: "What makes it work?".

The experiments ``controls`` (CIFAR-10) and ``controls_fmnist`` (Fashion-MNIST) train the
hybrid model of chapter 7 with the quantum block and with blocks that keep some of its
ingredients and drop others (:data:`CONTROLS`). Each ingredient is judged by one
difference of mean final test accuracies, ``with - without`` (:data:`INGREDIENTS`),
with its Welch interval and the rule of :mod:`~qpconv.replication.statistics`. A pair
whose runs are not all recorded yet is "not measured", never guessed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean, stdev

import pandas as pd

from .claims import Claim, compare, has_runs, mean_and_spread
from .experiments import custom_preset, get_experiment, get_preset, load_runs
from .models import parameter_summary
from .results import RunRecord
from .statistics import Verdict, comparison_verdict, welch

__all__ = [
    "CONTROLS",
    "INGREDIENTS",
    "PAPERS_GAP",
    "QUANTUM",
    "SAME_FORM",
    "TUNED_INGREDIENTS",
    "TUNED_MODELS",
    "TUNING_LRS",
    "Control",
    "Ingredient",
    "TunedBlock",
    "controls_table",
    "diverged_side",
    "ingredient_table",
    "ingredient_verdict",
    "left_out_text",
    "plain_verdict",
    "same_form_claim",
    "seconds_per_epoch",
    "tuned_blocks",
    "tuned_gap_claim",
    "tuned_ingredient_table",
    "tuned_verdict",
    "tuning_presets",
    "tuning_table",
]

QUANTUM = "quantum-L3"
"""The run name of the paper's quantum block (``L = 3``), the reference of every comparison."""


@dataclass(frozen=True)
class Control:
    """One block of the controls experiments.

    Attributes:
        model: its run name (``ModelVariant.name``).
        keeps: what it shares with the quantum block, in a few words.
    """

    model: str
    keeps: str


CONTROLS: tuple[Control, ...] = (
    Control(QUANTUM, "everything: the paper's quantum block"),
    Control("classical", "nothing: the paper's classical block (BatchNorm, ReLU)"),
    Control("classical-matched", "the parameter count (classical block, narrower bottleneck)"),
    Control("classical-nobn", "no BatchNorm, as the quantum block (classical block otherwise)"),
    Control("linear", "the block's structure; plain 1x1 convolutions"),
    Control("normalised-linear", "the structure and the normalisation x/|x|; linear read-out"),
    Control("normalised-quadratic", "the structure and the form x^T M x / |x|^2, M of rank 48, unconstrained"),
    Control("unitary-relaxation", "the form with any unitary (no circuit structure)"),
    Control("product-L3", "the circuits without entanglers"),
    Control("frozen-L3", "the circuits, never trained (random angles)"),
    Control("none", "no block at all (lower bound)"),
)
"""The blocks, in the order of the chapter's table."""


@dataclass(frozen=True)
class Ingredient:
    """An ingredient of the quantum block and the pair of blocks that isolates it.

    Attributes:
        name: the ingredient.
        with_it, without_it: run names of two blocks that differ (mainly) in it.
        question: what the difference answers.
    """

    name: str
    with_it: str
    without_it: str
    question: str


INGREDIENTS: tuple[Ingredient, ...] = (
    Ingredient("the paper's gap", QUANTUM, "classical", "is the quantum block better than the paper's classical block?"),
    Ingredient("the quantum layer", QUANTUM, "linear", "is it better than a plain 1x1 convolution in the same block?"),
    Ingredient("parameter count", QUANTUM, "classical-matched", "is it better than a classical block of its size?"),
    Ingredient("no BatchNorm", "classical-nobn", "classical", "does the classical block gain from dropping BatchNorm?"),
    Ingredient("normalisation", "normalised-linear", "linear", "does dividing each pixel by its norm help?"),
    Ingredient("quadratic form", "normalised-quadratic", "normalised-linear", "does the quadratic read-out help?"),
    Ingredient(
        "circuit constraints",
        QUANTUM,
        "normalised-quadratic",
        "is the quantum form better than an unconstrained classical form?",
    ),
    Ingredient("circuit structure", QUANTUM, "unitary-relaxation", "is the circuit better than any unitary?"),
    Ingredient("entanglement", QUANTUM, "product-L3", "do the entanglers help?"),
    Ingredient("training the circuit", QUANTUM, "frozen-L3", "does training the angles help?"),
    Ingredient("the block itself", QUANTUM, "none", "does the quantum block help at all?"),
)
"""The comparisons of the chapter, each ``with_it - without_it``."""

SAME_FORM = next(i for i in INGREDIENTS if i.name == "circuit constraints")
"""The claims chapter's "better than a classical layer of the same functional form"."""
PAPERS_GAP = next(i for i in INGREDIENTS if i.name == "the paper's gap")
"""The paper's comparison, quantum against its classical block (the claims chapter's row under tuning)."""


def seconds_per_epoch(runs: Sequence[RunRecord]) -> dict[str, float]:
    """Mean wall seconds per epoch of each model over its runs' epochs (any state but diverged runs).

    The recorded runs trained two at a time beside other work on a shared 2-core CPU, so
    these are comparable between blocks only roughly; ``qpconv bench`` measures side by side.
    """
    seconds: dict[str, list[float]] = {}
    for run in runs:
        if not run.diverged:
            seconds.setdefault(run.config.model, []).extend(row["seconds"] for row in run.metrics)
    return {model: sum(values) / len(values) for model, values in seconds.items() if values}


def _block_parameters(experiment: str) -> dict[str, int]:
    """Trainable parameters of each model's pointwise block (built freshly: counts do not depend on training)."""
    spec = get_experiment(experiment)
    return {
        variant.name: parameter_summary(variant.build(spec.dataset).get_submodule("pointwise"))["total"]
        for variant in spec.variants
    }


def controls_table(summary: pd.DataFrame, runs: Sequence[RunRecord], experiment: str = "controls") -> pd.DataFrame:
    """The chapter's table: one row per block of ``experiment``, in :data:`CONTROLS` order.

    Args:
        summary: :func:`~qpconv.replication.claims.summarise` of the experiment's runs.
        runs: the same runs (for the seconds per epoch).
        experiment: ``"controls"`` or ``"controls_fmnist"``.

    Returns:
        Indexed by ``block``; columns ``block parameters``, ``parameters``,
        ``seeds``, ``final test``, ``final train`` (percent, mean ± sd), ``test - quantum``
        (Welch difference, its 95 % interval and p-value) and ``s/epoch``. A block with no
        complete run shows ``not recorded`` (or ``diverged`` with the count when every run
        diverged).
    """
    block_parameters = _block_parameters(experiment)
    seconds = seconds_per_epoch(runs)
    rows = []
    for control in CONTROLS:
        if control.model not in block_parameters:
            continue
        row: dict[str, object] = {
            "block": control.model,
            "block parameters": f"{block_parameters[control.model]:,}",
        }
        if has_runs(summary, control.model):
            s = summary.loc[control.model]
            row |= {
                "parameters": f"{s['parameters']:,.0f}",
                "seeds": int(s["seeds"]),
                "final test": mean_and_spread(s["final_test"], s["final_test_sd"], int(s["seeds"]), digits=2),
                "final train": mean_and_spread(s["final_train"], s["final_train_sd"], int(s["seeds"]), digits=2),
                "test - quantum": (
                    compare(summary, control.model, QUANTUM).text
                    if control.model != QUANTUM and has_runs(summary, QUANTUM)
                    else ""
                ),
            }
        else:
            diverged = int(summary.loc[control.model, "diverged"]) if control.model in summary.index else 0
            state = f"diverged ({diverged} run{'s' * (diverged != 1)})" if diverged else "not recorded"
            row |= {"parameters": "", "seeds": 0, "final test": state, "final train": "", "test - quantum": ""}
        row["s/epoch"] = f"{seconds[control.model]:.0f}" if control.model in seconds else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("block")


def diverged_side(summary: pd.DataFrame, ingredient: Ingredient) -> str | None:
    """The block of ``ingredient`` whose every recorded run diverged (so it cannot be compared at this rate), or ``None``."""
    for model in (ingredient.with_it, ingredient.without_it):
        if model in summary.index and summary.loc[model, "seeds"] == 0 and summary.loc[model, "diverged"] > 0:
            return model
    return None


def ingredient_verdict(summary: pd.DataFrame, ingredient: Ingredient) -> Verdict:
    """Whether ``with_it`` beats ``without_it`` (Welch, 95 %); "not measured" until both are recorded."""
    if not (has_runs(summary, ingredient.with_it) and has_runs(summary, ingredient.without_it)):
        return Verdict.MISSING
    return comparison_verdict(compare(summary, ingredient.with_it, ingredient.without_it))


def _diverged_list(diverged: dict[str, tuple[int, int]]) -> str:
    """``"linear diverged in 1 of 5 runs, ..."`` for the blocks ``{model: (diverged, runs)}`` with diverged runs."""
    return ", ".join(f"{model} diverged in {count} of {runs} runs" for model, (count, runs) in diverged.items() if count)


def left_out_text(diverged: dict[str, tuple[int, int]]) -> str:
    """``"; left out: linear diverged in 1 of 5 runs"`` for blocks ``{model: (diverged, runs)}`` with diverged runs, else ``""``.

    A comparison's means count only the runs that did not diverge; this says which runs that leaves out.
    """
    listed = _diverged_list(diverged)
    return f"; left out: {listed}" if listed else ""


def _diverged_runs(summary: pd.DataFrame, *models: str) -> dict[str, tuple[int, int]]:
    """``{model: (diverged runs, all finished runs)}`` of a :func:`~qpconv.replication.claims.summarise` table."""
    return {
        model: (int(summary.loc[model, "diverged"]), int(summary.loc[model, "diverged"] + summary.loc[model, "seeds"]))
        for model in models
        if model in summary.index
    }


def _difference_text(summary: pd.DataFrame, ingredient: Ingredient) -> str:
    difference = compare(summary, ingredient.with_it, ingredient.without_it).text
    return difference + left_out_text(_diverged_runs(summary, ingredient.with_it, ingredient.without_it))


def _unmeasured_text(summary: pd.DataFrame, ingredient: Ingredient) -> str:
    """Why a comparison has no difference: a side that diverged, or nothing (runs not recorded yet)."""
    diverged = diverged_side(summary, ingredient)
    return f"{diverged} diverged at this learning rate" if diverged else ""


def ingredient_table(summary: pd.DataFrame, ingredients: Sequence[Ingredient] = INGREDIENTS) -> pd.DataFrame:
    """One row per ingredient: the question, the pair, the difference with its interval, and the verdict.

    Returns:
        Indexed by ``ingredient``; columns ``question``, ``with - without`` (run names),
        ``difference`` (points of final test accuracy, 95 % interval, p-value, seeds, and the
        runs left out because they diverged; or which block diverged, when every run of one side
        did) and ``verdict`` (whether ``with`` is better).
    """
    rows = []
    for ingredient in ingredients:
        verdict = ingredient_verdict(summary, ingredient)
        measured = verdict is not Verdict.MISSING
        rows.append(
            {
                "ingredient": ingredient.name,
                "question": ingredient.question,
                "with - without": f"{ingredient.with_it} - {ingredient.without_it}",
                "difference": _difference_text(summary, ingredient) if measured else _unmeasured_text(summary, ingredient),
                "verdict": verdict.value,
            }
        )
    return pd.DataFrame(rows).set_index("ingredient")


def same_form_claim(summary: pd.DataFrame, tuned: pd.DataFrame | None = None) -> Claim:
    """The claims table's row "the quantum layer is better than a classical layer of the same functional form".

    Judged on CIFAR-10's ``controls`` runs: the quantum block against the normalised
    quadratic block (:data:`SAME_FORM`), final test accuracy, Welch 95 %.

    Args:
        summary: :func:`~qpconv.replication.claims.summarise` of the ``controls`` runs.
        tuned: :func:`tuned_ingredient_table`, when the tuning runs should be read too: once
            both blocks have full runs at their selected learning rates, that comparison (the
            same tuning budget for both) decides the verdict and the row shows both.
    """
    statement = "CIFAR-10: the quantum layer is better than a classical layer of the same functional form"
    source = "What makes it work? (this book)"
    paper = "not stated; the paper credits its gain to the quantum circuit"
    verdict = ingredient_verdict(summary, SAME_FORM)
    if verdict is Verdict.MISSING:
        return Claim(source, statement, paper, "", "", verdict.value)
    with_it, without_it = summary.loc[SAME_FORM.with_it], summary.loc[SAME_FORM.without_it]
    measured = (
        f"final test {with_it['final_test']:.2f} vs {without_it['final_test']:.2f} "
        f"({int(with_it['seeds'])} vs {int(without_it['seeds'])} seeds; {SAME_FORM.with_it} vs {SAME_FORM.without_it})"
    )
    interval = f"test difference {compare(summary, SAME_FORM.with_it, SAME_FORM.without_it).text}"
    if tuned is not None:
        row = tuned.loc[SAME_FORM.name]
        if row["changed"]:
            interval += f"; each at its selected lr ({row['selected lrs']}): {row['at the selected lrs']}"
            verdict = Verdict(row["verdict at the selected lrs"])
        else:
            interval += "; at the selected lrs: not measured yet"
    return Claim(source, statement, paper, measured, interval, verdict.value)


_OUTCOME = {
    Verdict.HOLDS: "beats",
    Verdict.FAILS: "is beaten by",
    Verdict.UNRESOLVED: "cannot be told apart, with these seeds, from",
}
"""How a verdict on "quantum block - other block" reads in a sentence."""


def _same_form_sentences(summary: pd.DataFrame, at_paper_rate: Verdict, tuned: pd.DataFrame | None) -> list[str]:
    if at_paper_rate is Verdict.MISSING:
        return [
            f"Whether the quantum block beats a classical block of the same form ({SAME_FORM.without_it}) "
            "is not measured yet: its runs are not all recorded."
        ]
    difference = compare(summary, SAME_FORM.with_it, SAME_FORM.without_it).text
    sentences = [
        f"At the paper's learning rate, the quantum block {_OUTCOME[at_paper_rate]} the classical block of the same "
        f"form ({SAME_FORM.without_it}): {difference}."
    ]
    if tuned is not None:
        row = tuned.loc[SAME_FORM.name]
        if row["changed"]:
            outcome = _OUTCOME[Verdict(row["verdict at the selected lrs"])]
            sentences.append(
                f"With each block at the learning rate its tuning selected ({row['selected lrs']}), the quantum block "
                f"{outcome} it: {row['at the selected lrs']}."
            )
        else:
            sentences.append("With each block at the learning rate its tuning selected, that is not measured yet.")
    return sentences


def _tuned_gap_sentence(tuned: pd.DataFrame) -> list[str]:
    row = tuned.loc[PAPERS_GAP.name]
    if not row["changed"]:
        return []
    verdict = Verdict(row["verdict at the selected lrs"])
    sentence = (
        f"Under the same tuning budget ({row['selected lrs']}), the quantum block {_OUTCOME[verdict]} the paper's "
        f"classical block: {row['at the selected lrs']}"
    )
    if row["verdict at lr 0.01"] == Verdict.HOLDS.value and verdict is not Verdict.HOLDS:
        sentence += "; the paper's gap does not survive giving the classical block its own learning rate"
    return [sentence + "."]


def _circuit_sentence(summary: pd.DataFrame, tuned: pd.DataFrame) -> list[str]:
    verdict = Verdict(same_form_claim(summary, tuned).verdict)
    if verdict is Verdict.MISSING:
        return []
    where = (
        "under the same tuning budget"
        if tuned.loc[SAME_FORM.name, "changed"]
        else "at the paper's learning rate (not yet measured under tuning)"
    )
    conclusion = {
        Verdict.HOLDS: "the quantum block beats a classical layer of its form",
        Verdict.FAILS: "a classical layer of its form is better",
        Verdict.UNRESOLVED: "the quantum block cannot be told apart from a classical layer of its form with these seeds",
    }[verdict]
    credit = "credit" if verdict is Verdict.HOLDS else "do not credit"
    return [f"So the recorded runs {credit} the circuit: {where}, {conclusion}."]


def plain_verdict(summary: pd.DataFrame, tuned: pd.DataFrame | None = None) -> str:
    """The chapter's answer in plain sentences, from the ingredients' verdicts (nothing typed in).

    Book: "What makes it work?" (section "The verdict").

    Says whether the quantum block beats the unconstrained classical block of its form, at the
    paper's learning rate and, given ``tuned``, with each block at its selected rate; then, given
    ``tuned``, what the same tuning budget does to the paper's own gap and whether the recorded
    runs credit the circuit (by the same rule as the claims table's row, :func:`same_form_claim`);
    last, which ingredients the runs at the paper's rate resolve as helping or hurting, and how many
    comparisons still wait for their runs.

    Args:
        summary: :func:`~qpconv.replication.claims.summarise` of the ``controls`` runs (the paper's rate).
        tuned: :func:`tuned_ingredient_table`, or ``None`` for the paper's rate alone.
    """
    verdicts = {ingredient: ingredient_verdict(summary, ingredient) for ingredient in INGREDIENTS}
    parts = _same_form_sentences(summary, verdicts[SAME_FORM], tuned)
    if tuned is not None:
        parts += _tuned_gap_sentence(tuned) + _circuit_sentence(summary, tuned)
    helping = [i.name for i, v in verdicts.items() if v is Verdict.HOLDS]
    hurting = [i.name for i, v in verdicts.items() if v is Verdict.FAILS]
    unresolved = [i.name for i, v in verdicts.items() if v is Verdict.UNRESOLVED]
    diverged = [i.name for i, v in verdicts.items() if v is Verdict.MISSING and diverged_side(summary, i)]
    missing = [i.name for i, v in verdicts.items() if v is Verdict.MISSING and i.name not in diverged]
    if helping:
        parts.append(f"At the paper's rate, resolved as helping: {', '.join(helping)}.")
    if hurting:
        parts.append(f"At the paper's rate, resolved as hurting (the block without it is better): {', '.join(hurting)}.")
    if unresolved:
        parts.append(f"Not resolved by the seeds: {', '.join(unresolved)}.")
    if diverged:
        parts.append(
            f"Not measurable at the paper's learning rate, where a block diverged: {', '.join(diverged)} "
            "(see the same tuning budget)."
        )
    if missing:
        parts.append(f"Not measured yet ({len(missing)} of {len(verdicts)} comparisons): {', '.join(missing)}.")
    compared = {m for i, v in verdicts.items() if v is not Verdict.MISSING for m in (i.with_it, i.without_it)}
    partly = _diverged_list(_diverged_runs(summary, *sorted(compared)))
    if partly:
        parts.append(f"Runs that diverged are left out of the means: {partly}.")
    return " ".join(parts)


TUNING_LRS = (0.001, 0.003, 0.01)
"""The learning rates of the tuning sweep (the paper's 0.01 and two smaller ones)."""
TUNED_MODELS = (QUANTUM, "classical", "normalised-quadratic", "linear")
"""The blocks tuned, namely quantum, the paper's classical, the strongest control of the quantum form, and
the plain linear block (whose first full run fell to chance level at the paper's learning rate)."""


def tuning_presets(base: str) -> dict[float, str]:
    """``{lr: preset name}`` of :data:`TUNING_LRS` on preset ``base`` (``"tune"`` for validation, ``"full"`` for test)."""
    return {lr: custom_preset(get_preset(base), lr=lr).name for lr in TUNING_LRS}


@dataclass(frozen=True)
class TunedBlock:
    """One block under the same tuning budget (:func:`tuned_blocks`).

    Attributes:
        model: its run name.
        validation: final validation accuracy (percent) or ``"diverged"`` per rate of
            :data:`TUNING_LRS` that has a finished tuning run; rates still training are absent.
        selected: the rate with the best validation accuracy, once every rate is finished
            (``None`` before, or when every rate diverged).
        test: final test accuracies (percent), one per seed, of the full-preset runs at ``selected``
            that did not diverge.
        test_diverged: how many full-preset runs at ``selected`` diverged (left out of ``test``).
    """

    model: str
    validation: dict[float, float | str]
    selected: float | None
    test: tuple[float, ...]
    test_diverged: int = 0

    @property
    def finished(self) -> bool:
        """Whether every rate of :data:`TUNING_LRS` has a finished (complete or diverged) tuning run."""
        return len(self.validation) == len(TUNING_LRS)

    @property
    def margin(self) -> float | None:
        """How far (points) the selected rate's validation accuracy leads the next best rate's.

        ``None`` until a rate is selected, or when no other rate trained. One seed per rate: a
        margin within the seed-to-seed spread of a block is a tie that the budget cannot break.
        """
        scores = sorted((score for score in self.validation.values() if isinstance(score, float)), reverse=True)
        return scores[0] - scores[1] if self.selected is not None and len(scores) > 1 else None


def tuned_blocks(
    results_dir: str | os.PathLike, experiment: str = "controls", models: Sequence[str] = TUNED_MODELS
) -> dict[str, TunedBlock]:
    """Each tuned block's validation accuracies, selected learning rate and test accuracies at it.

    Book: "What makes it work?" (section "The same tuning budget").

    Every block gets the same budget: one seed (0) per learning rate of :data:`TUNING_LRS`, trained
    on 45,000 training images and scored on the 5,000 held out from the training set (preset
    ``tune``). The selected rate has the highest final validation accuracy; it is chosen only
    when every rate has a complete (or diverged, which is never chosen) run. The test
    accuracies come from the full-preset runs at that rate (the paper's 0.01 is the ``full``
    preset itself), never from the tuning runs.
    """
    validation: dict[str, dict[float, float | str]] = {model: {} for model in models}
    for lr, preset in tuning_presets("tune").items():
        for run in load_runs(experiment, preset, results_dir, on_damaged=lambda error: None):
            if run.config.model not in validation:
                continue
            if run.diverged:
                validation[run.config.model][lr] = "diverged"
            elif run.completed:
                validation[run.config.model][lr] = 100 * run.metrics[-1]["test_acc"]
    full_presets = tuning_presets("full")
    blocks = {}
    for model in models:
        scores = {lr: score for lr, score in validation[model].items() if isinstance(score, float)}
        finished = len(validation[model]) == len(TUNING_LRS)
        selected = max(scores, key=lambda lr: scores[lr]) if finished and scores else None
        test: tuple[float, ...] = ()
        diverged = 0
        if selected is not None:
            runs = [
                run
                for run in load_runs(experiment, full_presets[selected], results_dir, on_damaged=lambda error: None)
                if run.config.model == model
            ]
            test = tuple(100 * run.metrics[-1]["test_acc"] for run in runs if run.completed)
            diverged = sum(run.diverged for run in runs)
        blocks[model] = TunedBlock(model, validation[model], selected, test, diverged)
    return blocks


def tuning_table(
    results_dir: str | os.PathLike, experiment: str = "controls", models: Sequence[str] = TUNED_MODELS
) -> pd.DataFrame:
    """The learning rate of each tuned block, chosen on the validation split, and the test accuracy at it.

    Book: "What makes it work?" (section "The same tuning budget"). See :func:`tuned_blocks`.

    Returns:
        Indexed by ``block``; a column ``val @ lr`` per rate (percent, ``diverged`` or empty),
        ``selected lr``, its ``lead`` over the next best rate (points, :attr:`TunedBlock.margin`),
        ``test at selected lr`` (mean ± sd of the runs that did not diverge, and
        how many diverged) and ``seeds``.
    """
    rows = []
    for model, block in tuned_blocks(results_dir, experiment, models).items():
        row: dict[str, object] = {"block": model}
        for lr in TUNING_LRS:
            score = block.validation.get(lr)
            row[f"val @ {lr:g}"] = f"{score:.2f}" if isinstance(score, float) else (score or "")
        if block.selected is not None:
            row["selected lr"] = f"{block.selected:g}"
        else:
            row["selected lr"] = "all diverged" if block.finished else ""
        row["lead"] = "" if block.margin is None else f"{block.margin:.2f}"
        row["test at selected lr"], row["seeds"] = "", len(block.test)
        if block.test:
            sd = stdev(block.test) if len(block.test) > 1 else 0.0
            row["test at selected lr"] = mean_and_spread(fmean(block.test), sd, len(block.test), digits=2)
        if block.test_diverged:
            diverged = f"{block.test_diverged} diverged"
            row["test at selected lr"] = f"{row['test at selected lr']} (+{diverged})" if block.test else diverged
        rows.append(row)
    return pd.DataFrame(rows).set_index("block")


TUNED_INGREDIENTS: tuple[Ingredient, ...] = tuple(
    i for i in INGREDIENTS if i.with_it in TUNED_MODELS and i.without_it in TUNED_MODELS
)
"""The comparisons whose two blocks are both tuned (the paper's gap, the quantum layer against the plain linear
block, which diverges at the paper's rate, and the circuit constraints)."""


def tuned_ingredient_table(summary: pd.DataFrame, results_dir: str | os.PathLike, experiment: str = "controls") -> pd.DataFrame:
    """Whether a verdict changes when each block trains at its own selected learning rate.

    Book: "What makes it work?" (section "The same tuning budget").

    Args:
        summary: :func:`~qpconv.replication.claims.summarise` of the experiment's full runs
            (the paper's rate).
        results_dir: where the tuning runs and the full runs at the selected rates are.
        experiment: ``"controls"``.

    Returns:
        Indexed by ``ingredient`` (:data:`TUNED_INGREDIENTS`); columns ``at lr 0.01`` and
        ``verdict at lr 0.01`` (as in :func:`ingredient_table`), ``selected lrs``, ``seeds`` (the
        full runs at the selected rates that trained, ``"with / without"``), ``means at the
        selected lrs`` (their mean final test accuracies, ``"with / without"``), ``at the
        selected lrs`` (Welch difference of those runs) and its ``verdict``, and ``changed``
        (``yes``/``no``; empty while a side is not measured; ``yes`` where a block diverged at
        the paper's rate and the comparison is measured only at the selected rates). A side
        needs two seeds at its selected rate for an interval.
    """
    blocks = tuned_blocks(results_dir, experiment)
    rows = []
    for ingredient in TUNED_INGREDIENTS:
        paper = ingredient_verdict(summary, ingredient)
        with_it, without_it = blocks[ingredient.with_it], blocks[ingredient.without_it]
        row: dict[str, object] = {
            "ingredient": ingredient.name,
            "with - without": f"{ingredient.with_it} - {ingredient.without_it}",
            "at lr 0.01": _difference_text(summary, ingredient)
            if paper is not Verdict.MISSING
            else _unmeasured_text(summary, ingredient),
            "verdict at lr 0.01": paper.value,
            "selected lrs": " / ".join(f"{b.selected:g}" if b.selected is not None else "?" for b in (with_it, without_it)),
            "seeds": f"{len(with_it.test)} / {len(without_it.test)}",
        }
        tuned = Verdict.MISSING
        row["means at the selected lrs"] = row["at the selected lrs"] = ""
        if len(with_it.test) > 1 and len(without_it.test) > 1:
            row["means at the selected lrs"] = f"{fmean(with_it.test):.2f} / {fmean(without_it.test):.2f}"
            difference = welch(with_it.test, without_it.test)
            tuned = comparison_verdict(difference)
            diverged = {b.model: (b.test_diverged, b.test_diverged + len(b.test)) for b in (with_it, without_it)}
            row["at the selected lrs"] = difference.text + left_out_text(diverged)
        row["verdict at the selected lrs"] = tuned.value
        # a side that diverged at the paper's rate but trains at its own: measurable only under tuning, a change
        comparable = paper is not Verdict.MISSING or diverged_side(summary, ingredient) is not None
        row["changed"] = ("yes" if paper is not tuned else "no") if tuned is not Verdict.MISSING and comparable else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("ingredient")


def tuned_verdict(table: pd.DataFrame) -> str:
    """One sentence per tuned comparison of :func:`tuned_ingredient_table`, for the chapter's prose."""
    sentences = []
    for name, row in table.iterrows():
        if not row["changed"] and "?" in row["selected lrs"]:
            sentences.append(f"{name}: not measured under tuning yet (the tuning runs are not all recorded).")
        elif not row["changed"]:
            sentences.append(
                f"{name}: not measured under tuning yet (selected rates {row['selected lrs']}; "
                "their full runs are not all recorded)."
            )
        elif row["changed"] == "no":
            sentences.append(
                f"{name}: unchanged under tuning ({row['verdict at the selected lrs']}; at the selected rates "
                f"{row['selected lrs']} with {row['seeds']} seeds, {row['at the selected lrs']})."
            )
        elif row["verdict at lr 0.01"] == Verdict.MISSING.value:
            sentences.append(
                f"{name}: not measurable at the paper's rate ({row['at lr 0.01']}); at the selected rates "
                f"{row['selected lrs']} with {row['seeds']} seeds, {row['verdict at the selected lrs']} "
                f"({row['at the selected lrs']})."
            )
        else:
            sentences.append(
                f"{name}: changes under tuning, from {row['verdict at lr 0.01']} at the paper's rate to "
                f"{row['verdict at the selected lrs']} at the selected rates {row['selected lrs']} with {row['seeds']} "
                f"seeds ({row['at the selected lrs']})."
            )
    return " ".join(sentences)


def tuned_gap_claim(tuned: pd.DataFrame) -> Claim:
    """The claims table's row "CIFAR-10: quantum above classical, each block at the learning rate its tuning selected".

    Book: The paper's claims, checked; "What makes it work?" (section "The same tuning budget").

    The paper trains both blocks at 0.01, and the row of Figs. 6-7 judges its claim there. This
    row gives both blocks the same tuning budget (:func:`tuned_blocks`) and judges the same
    direction on their full runs at the selected rates (Welch, 95 %; not measured while a side
    has fewer than two).

    Args:
        tuned: :func:`tuned_ingredient_table` of the experiment (its row for :data:`PAPERS_GAP`).
    """
    statement = "CIFAR-10: quantum above classical, each at the learning rate its tuning selected"
    source, paper = "What makes it work? (this book)", "not stated; the paper trains both at 0.01"
    row = tuned.loc[PAPERS_GAP.name]
    verdict = Verdict(row["verdict at the selected lrs"])
    if verdict is Verdict.MISSING:
        return Claim(source, statement, paper, "", "", verdict.value)
    measured = f"final test {row['means at the selected lrs']} ({row['seeds']} seeds; lr {row['selected lrs']})"
    return Claim(source, statement, paper, measured, f"test difference {row['at the selected lrs']}", verdict.value)
