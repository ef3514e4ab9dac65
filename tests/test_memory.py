"""The allocator policy of `gankit.memory`, measured in real processes: page faults of an evaluation-like loop."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

PROBE = """
import json, resource
from gankit.memory import keep_freed_memory
said = keep_freed_memory()
import torch
torch.set_num_threads(1)
w = torch.randn(64, 64, 3, 3)
def batch():  # a generator's last layers on a batch of 128 at 32 px: 32 MiB activations, allocated anew each time
    x = torch.randn(128, 64, 32, 32)
    for _ in range(3):
        x = torch.nn.functional.conv2d(x, w, padding=1).relu()
    return float(x.sum())
batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    batch()
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, "said": said}))
"""


PAGES = (32 << 20) // 4096  # one activation
KEPT_AT_MOST = 8 * PAGES  # kept: at most a few activations' first touch (0 on a quiet machine, 2 seen on CI);
# glibc's default faults every batch's ~13 activations in again (~65 over the 5 batches)


def _run(env_value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GANKIT_MALLOC" and not k.startswith("MALLOC_")}
    if env_value is not None:
        env["GANKIT_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_large_activations_are_not_faulted_in_again_in_every_batch():
    kept, system = _run(None), _run("system")
    if not kept["said"].startswith("freed memory kept"):
        pytest.skip(kept["said"])  # another libc
    assert system["said"].startswith("glibc defaults")
    assert system["faults"] > 5 * KEPT_AT_MOST, system  # glibc's default: every batch faults its activations in again
    assert kept["faults"] < KEPT_AT_MOST, kept  # kept: freed blocks are reused


@pytest.mark.parametrize("command, malloc, kept", [("eval", None, True), ("train", None, True), ("bench", None, True),
                                                   ("train", "system", False)])
def test_the_cli_sets_it_for_every_command_unless_told_not_to(command, malloc, kept):
    """`gankit COMMAND --help` runs the group's setup; the same loop then shows which allocator policy it left."""
    probe = PROBE.replace("said = keep_freed_memory()", f"from gankit.cli import main\nmain(['{command}', '--help'])\nsaid = ''")
    env = {k: v for k, v in os.environ.items() if k != "GANKIT_MALLOC" and not k.startswith("MALLOC_")}
    if malloc:
        env["GANKIT_MALLOC"] = malloc
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True).stdout
    faults = json.loads(out.strip().splitlines()[-1])["faults"]
    assert (faults < KEPT_AT_MOST) == kept, faults
