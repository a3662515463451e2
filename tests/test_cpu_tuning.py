"""jaxnas.cpu_tuning: which XLA flag and glibc tunable are set when, how the YNN setting is
read back, and that the real `jaxnas` command runs with both (recorded in its results)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jaxnas import cpu_tuning
from jaxnas.cpu_tuning import (HUGETLB_TUNABLE, YNN_FLAG, add_xla_flags, conv_impl_for_flags,
                               force_host_device_count, hugepages_env, hugepages_usable,
                               process_env, tune_xla_flags, ynn_convolutions)


def test_xla_flag_added_once_and_only_before_backends_start(monkeypatch):
    monkeypatch.setattr(cpu_tuning, "_backends_started", lambda: False)
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    assert tune_xla_flags(env) is True
    assert env["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=4 {YNN_FLAG}"
    assert tune_xla_flags(env) is False  # already there
    user = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=dot"}
    assert tune_xla_flags(user) is False and user["XLA_FLAGS"].endswith("=dot")  # user's choice
    off = {"JAXNAS_CPU_TUNING": "0"}
    assert tune_xla_flags(off) is False and "XLA_FLAGS" not in off
    monkeypatch.setattr(cpu_tuning, "_backends_started", lambda: True)
    late = {}
    assert tune_xla_flags(late) is False and "XLA_FLAGS" not in late  # could not take effect


@pytest.mark.parametrize("flags,expected", [
    ("", True),                                                   # XLA's default
    (YNN_FLAG, False),
    ("--xla_cpu_experimental_ynn_fusion_type=", False),           # YNNPACK off
    ("--xla_cpu_experimental_ynn_fusion_type=reduce,individual_convolution", True),
    ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution", False),
    ("--xla_cpu_experimental_ynn_fusion_type=+reduce", True),
    ("--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION", True),
])
def test_ynn_convolutions_reads_the_flag(flags, expected):
    assert ynn_convolutions({"XLA_FLAGS": flags}) is expected


def test_xla_flags_are_written_by_one_helper():
    env = {}
    assert force_host_device_count(4, env) == "--xla_force_host_platform_device_count=4"
    assert add_xla_flags("--a=1", "--b=2", environ=env) == (
        "--xla_force_host_platform_device_count=4 --a=1 --b=2") == env["XLA_FLAGS"]
    with pytest.raises(ValueError):
        force_host_device_count(0, {})


def test_conv_impl_for_flags_follows_the_ynn_setting():
    assert conv_impl_for_flags({}) == "auto_ynnpack"  # XLA's default: YNNPACK convolutions
    assert conv_impl_for_flags({"XLA_FLAGS": YNN_FLAG}) == "auto"  # the jaxnas command's


def test_only_the_command_line_replaces_the_process():
    root = Path(cpu_tuning.__file__).parent
    hits = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                  if "os.execve" in p.read_text() or "matplotlib.use" in p.read_text())
    assert hits == [str(Path("cli") / "__init__.py")]


def test_hugepages_env_adds_the_tunable_once(monkeypatch):
    monkeypatch.setattr(cpu_tuning, "hugepages_usable", lambda: True)
    env = hugepages_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "A": "b"})
    assert env == {"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{HUGETLB_TUNABLE}", "A": "b"}
    assert hugepages_env(env) is None
    assert hugepages_env({"JAXNAS_CPU_TUNING": "off"}) is None
    monkeypatch.setattr(cpu_tuning, "hugepages_usable", lambda: False)
    assert hugepages_env({}) is None
    assert process_env({"GLIBC_TUNABLES": HUGETLB_TUNABLE, "A": "b"}) == {
        "XLA_FLAGS": "", "GLIBC_TUNABLES": HUGETLB_TUNABLE}


def test_jaxnas_command_runs_tuned_and_records_it(tmp_path):
    out = tmp_path / "r.json"
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("XLA_FLAGS", "GLIBC_TUNABLES", "JAXNAS_CPU_TUNING")}
    subprocess.run([sys.executable, "-m", "jaxnas", "--compile-cache", "none", "search",
                    "--space", "nb201", "--strategy", "random", "--queries", "3", "--seeds", "1",
                    "--quiet", "--json", str(out)], env=env, check=True, timeout=300,
                   capture_output=True)
    recorded = json.loads(out.read_text())["environment"]["process_env"]
    assert YNN_FLAG in recorded["XLA_FLAGS"]
    assert (HUGETLB_TUNABLE in recorded["GLIBC_TUNABLES"]) is hugepages_usable()
