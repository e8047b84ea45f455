"""A real WanVideoWrapper checkout can pass `--strict`: its LongCat model has another `SingleStreamAttention`
(the attention sits in a helper), which the checkout's pyproject.toml leaves out by a path-qualified target
or by `exclude`, on the command line and under the real pre-commit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES, WRAPPER
from tests.cli_runner import invoke as run_cli
from tests.precommit import commit_everything, needs_pre_commit, try_repo

HOOK_FILES = ("LongCat/layers.py", "multitalk/multitalk.py")  # as pre-commit names a commit's files
FIXED = rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new

# WanVideoWrapper's LongCat/layers.py has its own SingleStreamAttention: forward hands the work to a
# helper, so none of the seed sites of MultiTalk's class is in forward.
LONGCAT_LAYERS = b'''import torch
import torch.nn as nn
from einops import rearrange

from ..wanvideo.modules.attention import attention


class SingleStreamAttention(nn.Module):
    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias=True, qk_norm=False):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q_linear = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv_linear = nn.Linear(encoder_hidden_states_dim, dim * 2, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _process_cross_attn(self, x, cond, frames_num):
        x = rearrange(x, "B (N_t S) C -> (B N_t) S C", N_t=frames_num)
        B, N, C = x.shape
        q = self.q_linear(x).view(B, N, self.num_heads, self.head_dim)
        k, v = self.kv_linear(cond).view(B, -1, 2, self.num_heads, self.head_dim).unbind(2)
        x = attention(q, k, v)
        x = self.proj(x.reshape(B, N, C))
        return rearrange(x, "(B N_t) S C -> B (N_t S) C", N_t=frames_num)

    def forward(self, x, encoder_hidden_states, shape=None, num_cond_latents=None):
        N_t, _, _ = shape
        if num_cond_latents is None or num_cond_latents == 0:
            return self._process_cross_attn(x, encoder_hidden_states, N_t)
        x_cond, x_noise = x[:, :num_cond_latents], x[:, num_cond_latents:]
        x_noise = self._process_cross_attn(x_noise, encoder_hidden_states, N_t - num_cond_latents)
        return torch.cat([x_cond, x_noise], dim=1)
'''

DEFAULTS = ["SingleStreamAttention.forward", "SingleStreamMultiAttention.forward", "SingleStreamMutiAttention.forward"]
CONFIGS = {
    "path-qualified target": "[tool.contiguify]\nstrict = true\ntargets = [\n"
                             + "".join(f'    "{target}",\n' for target in ["multitalk/*.py::" + DEFAULTS[0], *DEFAULTS[1:]])
                             + "]\n",
    "exclude": '[tool.contiguify]\nstrict = true\nexclude = ["LongCat"]\n',
}
NO_CONFIG = "[tool.contiguify]\nstrict = true\n"


def make_checkout(path: Path, pyproject: str) -> Path:
    shutil.copytree(WRAPPER, path)
    (path / "LongCat").mkdir()
    (path / "LongCat" / "__init__.py").write_bytes(b"")
    (path / "LongCat" / "layers.py").write_bytes(LONGCAT_LAYERS)
    (path / "pyproject.toml").write_text(pyproject)
    return path


def invoke(*args: str) -> tuple[int, str]:
    code, _, err = run_cli(*args)
    return code, err


def test_without_config_the_longcat_class_fails_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The problem itself: every run warns about LongCat's class, so --strict can never pass."""
    checkout = make_checkout(tmp_path / "ComfyUI-WanVideoWrapper", NO_CONFIG)
    monkeypatch.chdir(tmp_path)
    assert invoke("fix", checkout.name)[0] == 1
    code, err = invoke("check", checkout.name)
    assert code == 1
    assert "LongCat/layers.py:" in err and "SingleStreamAttention.forward: sites not found" in err


@pytest.mark.parametrize("config", CONFIGS)
def test_the_checkout_passes_strict_with_its_config(config: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = make_checkout(tmp_path / "ComfyUI-WanVideoWrapper", CONFIGS[config])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the config is the checkout's, not the working directory's
    code, err = invoke("fix", str(checkout))
    assert code == 1 and "rewrote" in err
    assert (checkout / "multitalk" / "multitalk.py").read_bytes() == FIXED
    assert (checkout / "LongCat" / "layers.py").read_bytes() == LONGCAT_LAYERS
    for paths in ([str(checkout)], [str(checkout / "LongCat" / "layers.py"), str(checkout / "multitalk" / "multitalk.py")]):
        code, err = invoke("check", "--strict", *paths)
        assert code == 0, err
        assert "warning" not in err


# The real pre-commit, as a user's repository runs it: the checkout is the repository.
@needs_pre_commit
@pytest.mark.parametrize("config", CONFIGS)
def test_the_checkout_passes_strict_under_pre_commit(config: str, tmp_path: Path, environment: dict[str, str]) -> None:
    repo = make_checkout(tmp_path / "ComfyUI-WanVideoWrapper", CONFIGS[config])
    commit_everything(repo, "upstream")
    first = try_repo(repo, "contiguify", environment, *HOOK_FILES)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    assert (repo / "multitalk" / "multitalk.py").read_bytes() == FIXED
    for hook in ("contiguify", "contiguify-check"):
        again = try_repo(repo, hook, environment, *HOOK_FILES)
        assert again.returncode == 0, again.stdout + again.stderr
