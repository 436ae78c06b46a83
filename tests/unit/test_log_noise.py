"""The "no deprecation noise" classifier (harness/log_noise.py) on log lines as ComfyUI 0.3.75 (bare messages) and
0.33 (coloured level tags) write them; a stand-in repo holds the glue source the deprecated-API rule reads."""
import pytest
from harness.log_noise import loadout_warnings
from harness.paths import PACK_DIR_NAME

PACK = f"/root/.cache/loadout/harness/custom_nodes/{PACK_DIR_NAME}"
GREEN, YELLOW, RESET, BOLD = "\x1b[32m", "\x1b[33m", "\x1b[0m", "\x1b[1m"


def tag(level, message):
    colour = YELLOW if level == "WARNING" else GREEN
    return f"{BOLD if level == 'WARNING' else ''}{colour}[{level}]{RESET} {message}\n"


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "nodes" / "comfy_compat").mkdir(parents=True)
    (tmp_path / "web" / "js").mkdir(parents=True)
    (tmp_path / "nodes" / "comfy_compat" / "offload.py").write_text(
        "def seed(key):\n    from comfy.model_patcher import string_to_seed\n    return string_to_seed(key)\n")
    (tmp_path / "__init__.py").write_text('WEB_DIRECTORY = "./web/js"\n')  # served at /extensions/<pack>/
    (tmp_path / "web" / "js" / "reports.js").write_text('import { app } from "../../scripts/app.js";\n'
                                                        'import { x } from "../core/widgets.js";\n')
    return tmp_path


def rules(text, repo, allowed=()):
    return [rule for rule, _ in loadout_warnings(text, allowed, repo=repo)]


def test_tagged_log_flags_only_warning_level_lines_about_the_pack(repo):
    text = (tag("INFO", "[Loadout] offload model: strategy path offload")
            + tag("INFO", f"   0.2 seconds: {PACK}")
            + tag("WARNING", "[Loadout] VAE decode (tiled): using ComfyUI's tiled decode: no tile fits")
            + tag("WARNING", "some other pack: careful") + tag("ERROR", "[Loadout] LoRA stack: input 'x': bad"))
    found = loadout_warnings(text, repo=repo)
    assert [r for r, _ in found] == ["warning"]
    assert "tiled decode" in found[0][1]
    after_bar = " 50%|█████     | 2/4 [00:16<00:15,  7.60s/it]" + tag("WARNING", "[Loadout] offload model: slow")
    assert rules(after_bar + tag("INFO", "[Loadout] ok"), repo) == ["warning"]


def test_untagged_log_cannot_read_levels_so_only_lines_saying_warning_count(repo):
    text = ("[Loadout] VAE decode (tiled): using ComfyUI's tiled decode: no tile fits\n"
            f"WARNING: something about {PACK}/nodes/vae.py\n" "[Loadout] offload model: strategy path offload\n")
    assert rules(text, repo) == ["warning"]


def test_string_to_seed_counts_when_the_glue_calls_it_and_not_otherwise(repo):
    line = tag("WARNING", "WARNING: string_to_seed has moved from comfy.model_patcher to comfy.utils")
    assert rules(line * 3, repo) == ["deprecated-api"] * 3
    (repo / "nodes" / "comfy_compat" / "offload.py").write_text("from comfy.utils import string_to_seed\n")
    assert rules(line, repo) == []


def test_python_warnings_count_when_their_file_is_in_the_pack(repo):
    text = (f"{PACK}/vram/offload/offloader.py:12: DeprecationWarning: torch.foo is deprecated\n"
            "  x = torch.foo()\n"
            "/venv/lib/python3.11/site-packages/torch/nn/x.py:3: UserWarning: not ours\n"
            f"{PACK}/nodes/vae.py:40: FutureWarning: bar\n")
    assert rules(text, repo) == ["python-warning", "python-warning"]


def test_a_library_warning_from_a_venv_inside_the_checkout_is_not_the_packs(repo):
    """The venvs live in the checkout (.venv, .venv-0.33): torch's own warnings come from a path below the repo."""
    from harness.paths import REPO
    torch_file = f"{REPO}/.venv/lib/python3.11/site-packages/torch/_weights_only_unpickler.py"
    text = (f"{torch_file}:593: UserWarning: Detected pickle protocol 4 in the checkpoint\n"
            f"{REPO}/.venv-0.33/lib/python3.12/site-packages/torch/x.py:1: UserWarning: also not ours\n"
            f"{REPO}/core/lora/files.py:32: UserWarning: ours\n")
    assert rules(text, repo) == ["python-warning"]


def test_deprecation_counts_when_it_names_the_pack_or_its_traceback_runs_through_it(repo):
    through = (tag("WARNING", "The thing is deprecated, use the other") + "Traceback (most recent call last):\n"
               f'  File "{PACK}/nodes/lora.py", line 10, in apply\n' "    thing()\n")
    elsewhere = (tag("WARNING", "The thing is deprecated, use the other")
                 + '  File "/comfy/nodes.py", line 10, in apply\n')
    named = tag("WARNING", f"Node in {PACK} uses a deprecated input type")
    assert rules(through, repo) == ["deprecation"]
    assert rules(elsewhere, repo) == []
    assert rules(named, repo) == ["deprecation"]


def test_legacy_frontend_path_counts_when_the_pack_imports_it(repo):
    msg = ("[DEPRECATION WARNING] Detected import of deprecated legacy API: {}. This is likely caused by a custom "
           "node extension using outdated APIs.")
    assert rules(tag("WARNING", msg.format("/extensions/core/widgets.js")), repo) == ["deprecation"]
    assert rules(tag("WARNING", msg.format("/scripts/ui/dialog.js")), repo) == []


def test_allow_log_excuses_a_pack_warning_in_its_test_but_never_a_deprecation(repo):
    first = tag("WARNING", "[Loadout] LoRA stack: 3 keys of x matched nothing, e.g. a")
    text = first + tag("WARNING", "WARNING: string_to_seed has moved from comfy.model_patcher to comfy.utils") + first
    allowed = [(0, len(text) - len(first), [r"matched nothing"])]  # the first two lines were written by that test
    assert rules(text, repo, allowed) == ["deprecated-api", "warning"]
    assert rules(text, repo, [(0, len(text), [r"something else"])]) == ["warning", "deprecated-api", "warning"]
