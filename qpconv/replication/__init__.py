"""The replication wing: the paper's experiments, from data to verdicts (book, Replication part).

Everything here serves the book's replication of Ning, Li and Chen; nothing in the
core (``qpconv`` itself: the layer, its maths, its kernels) imports it. Modules:

* :mod:`~qpconv.replication.atomic`             atomic file writes (used by every writer below)
* :mod:`~qpconv.replication.locks`              one process per run: a lock file beside its checkpoint
* :mod:`~qpconv.replication.datasets`           what each dataset is: sizes, statistics, where its copies come from
* :mod:`~qpconv.replication.loading`            datasets into memory, stratified subsets, loaders (chapter 7)
* :mod:`~qpconv.replication.acquire`            downloads and offline preparation of the datasets (How to run)
* :mod:`~qpconv.replication.models`             the paper's hybrid CNN and its pointwise blocks, Fig. 3 (chapter 7)
* :mod:`~qpconv.replication.architectures`      MobileNetV2 and a bottleneck ResNet for CIFAR, with quantum 1x1s (chapter 14)
* :mod:`~qpconv.replication.diagrams`           block diagrams of the models, Fig. 3 (chapter 7)
* :mod:`~qpconv.replication.recipe`             the training recipe as data (chapter 7)
* :mod:`~qpconv.replication.training`           training with the recipe, resumable (chapter 7)
* :mod:`~qpconv.replication.results`            the results layout and typed run records (Replication)
* :mod:`~qpconv.replication.experiments`        the experiments, presets and the runner (Replication)
* :mod:`~qpconv.replication.executors`          where a sweep's runs train: this process or a Ray cluster (How to run)
* :mod:`~qpconv.replication.planning`           what a sweep still has to train, in hours (``qpconv run --dry-run``)
* :mod:`~qpconv.replication.plotting`           Figs. 4-8 from recorded runs (Replication)
* :mod:`~qpconv.replication.statistics`         Welch intervals and the rule behind every verdict
* :mod:`~qpconv.replication.claims`             the paper's quoted values and verdicts (The paper's claims, checked)
* :mod:`~qpconv.replication.controls`           the controls of "What makes it work?" and their verdicts (chapter 12)
* :mod:`~qpconv.replication.robustness`         trained models under shots, gate noise and noise-aware fine-tuning (chapter 13)
* :mod:`~qpconv.replication.device_study`       the recorded device study of chapter 13
* :mod:`~qpconv.replication.hardware`           the paper's models on a quantum computer: layers and recorded epochs
* :mod:`~qpconv.replication.architecture_study` the tables of "Beyond the paper's CNN" (chapter 14)
* :mod:`~qpconv.replication.notebook`           one setup call and the shared tables of the chapters
* :mod:`~qpconv.replication.colab`              the repository for a notebook opened alone (Google Colab)
* :mod:`~qpconv.replication.book`               the table of contents and the book build (``make book``)

It needs the ``replication`` extra: ``pip install 'qpconv[replication]'``.
"""

from .._optional import require_installed

require_installed(
    ("torchvision", "pandas", "matplotlib", "seaborn", "tqdm", "yaml", "scipy"),
    extra="replication",
    feature="qpconv.replication (the paper's experiments)",
)
