"""Bad input gets one clear line naming the bad value, never a traceback, a hang or a silently
wrong result (the cases of docs/reliability.md)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from jaxnas.cli import main
from jaxnas.errors import JaxnasError
from jaxnas.search.runner import RunConfig

GENOME_201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|skip_connect~1|" \
             "nor_conv_3x3~2|"
SEARCH = ["search", "--strategy", "random", "--queries", "3", "--quiet"]

# (case, RunConfig keyword arguments, text the error must contain)
API_CASES = [
    ("repeated seed", dict(seeds=(0, 0)), "repeat a seed"),
    ("seed beyond 32 bits", dict(seeds=(2**32,)), "outside 0..4294967295"),
    ("negative seed", dict(seeds=(-1,)), "outside"),
    ("seeds as an int", dict(seeds=3), "tuple of ints"),
    ("batched as a string", dict(batched="no"), "True or False"),
    ("queries as a string", dict(queries="50"), "must be an int"),
    ("negative queries", dict(queries=-1), "must be >= 1"),
    ("nan latency limit", dict(max_latency=float("nan"), device="pixel3"), "finite"),
    ("negative latency limit", dict(max_latency=-5.0, device="pixel3"), "> 0"),
    ("latency limit without device", dict(max_latency=5.0), "needs --device"),
    ("unknown objective", dict(objective="speed"), "objective"),
    ("option named twice", dict(options=(("a", "1"), ("a", "2"))), "twice"),
    ("unknown strategy", dict(strategy="magic"), "unknown strategy"),
]


@pytest.mark.parametrize("case,kwargs,message", API_CASES, ids=[c[0] for c in API_CASES])
def test_run_config_rejects_bad_values_in_one_line(case, kwargs, message):
    with pytest.raises(JaxnasError, match=message) as error:
        RunConfig(**kwargs)
    assert "\n" not in str(error.value)


# (case, argv, text stderr must contain)
CLI_CASES = [
    ("queries beyond the table", ["search", "--queries", "1000000000", "--quiet"],
     "exceeds the 15,625"),
    ("seed offset beyond 32 bits", [*SEARCH, "--seed-offset", "4294967296"], "outside"),
    ("seed offset beyond 64 bits", [*SEARCH, "--seed-offset", "18446744073709551616"],
     "outside"),
    ("max latency nan", [*SEARCH, "--device", "pixel3", "--max-latency", "nan"], "finite"),
    ("max latency -5", [*SEARCH, "--device", "pixel3", "--max-latency", "-5"], "> 0"),
    ("repeated option", [*SEARCH, "--option", "batch_size=2", "--option", "batch_size=3"],
     "twice"),
    ("sample size above population", ["search", "--strategy", "re", "--queries", "3",
                                      "--option", "sample_size=20", "--quiet"], "sample_size"),
    ("unknown evaluator option", [*SEARCH, "--evaluator", "oracle", "--evaluator-option",
                                  "speed=9"], "unknown option"),
    ("huge egnas width", ["train", "--space", "egnas", "--genome", "L1-C999999-o0-k3",
                          "--dataset", "fashion_mnist", "--epochs", "1"], "width"),
    ("non-ASCII digits", ["describe", "egnas", "L\uff110-C64-o0000000000-k3333333333"],
     "does not match"),
    ("garbage results file", ["plot", "{garbage}", "--out", "{tmp}/x.png"], "not valid JSON"),
    ("results file of no run", ["plot", "{notrun}", "--out", "{tmp}/x.png"],
     "not a jaxnas search results file"),
    ("run dir is a file", [*SEARCH, "--run-dir", "{garbage}"], "is a file"),
    ("json is a directory", [*SEARCH, "--json", "{tmp}"], "is a directory"),
    ("train json is a directory", ["train", "--space", "egnas", "--genome", "L4-C8-o0000-k3333",
                                   "--dataset", "fashion_mnist", "--epochs", "1", "--json",
                                   "{tmp}"],
     "is a directory"),
    ("resume with a conflicting flag", ["search", "--resume", "{run}", "--strategy", "ls",
                                        "--quiet"], "conflicts with the resumed run"),
    ("resume of no run", ["search", "--resume", "{tmp}/none", "--quiet"], "not a jaxnas run"),
    ("truncated config.json", ["search", "--resume", "{torn_run}", "--quiet"],
     "not valid JSON"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "garbage.json").write_text("garbage")
    (tmp / "notrun.json").write_text('{"a": 1}')
    for name in ("run", "torn_run"):
        assert main([*SEARCH, "--run-dir", str(tmp / name)]) == 0
    config = tmp / "torn_run" / "config.json"
    config.write_text(config.read_text()[:40])
    return {"tmp": tmp, "garbage": tmp / "garbage.json", "notrun": tmp / "notrun.json",
            "run": tmp / "run", "torn_run": tmp / "torn_run"}


@pytest.mark.parametrize("case,argv,message", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_the_command_line_rejects_bad_input_in_one_line(case, argv, message, files, capsys,
                                                        tmp_path):
    argv = [a.format(**files) for a in argv]
    if "--run-dir" not in argv and "--resume" not in argv and argv[0] == "search":
        argv += ["--run-dir", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()  # a failed start leaves no run directory


def test_a_huge_batch_is_capped_at_the_budget_before_it_is_built(tmp_path):
    out = tmp_path / "out.json"
    assert main([*SEARCH, "--option", "batch_size=100000000", "--run-dir", str(tmp_path / "r"),
                 "--json", str(out)]) == 0
    run = __import__("json").loads(out.read_text())["runs"][0]
    assert run["queries"] == 3 and len(run["asked"]) == 3


def _idx(tmp_path, data: bytes, gz: bool = True):
    folder = tmp_path / "fashion_mnist"
    folder.mkdir(exist_ok=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        payload = gzip.compress(data) if gz else data
        (folder / name).write_bytes(payload)
    return tmp_path


IDX_CASES = [
    ("truncated gzip", lambda t: _idx(t, b"\0\0\x08\x03" + b"\0" * 64)
     and (t / "fashion_mnist" / "train-images-idx3-ubyte.gz").write_bytes(
         gzip.compress(b"\0\0\x08\x03" + b"\0" * 64)[:20]), "cannot be read"),
    ("not gzip", lambda t: (_idx(t, b"x"), (t / "fashion_mnist" / "train-images-idx3-ubyte.gz")
                            .write_bytes(b"plain bytes")), "cannot be read"),
    ("ndim 255", lambda t: _idx(t, b"\0\0\x08\xff" + b"\0" * 16), "damaged IDX header"),
    ("not an IDX file", lambda t: _idx(t, b"\x01\x02\x03\x04" + b"\0" * 16), "not an IDX"),
    ("wrong length", lambda t: _idx(t, b"\0\0\x08\x01" + (100).to_bytes(4, "big") + b"\0" * 9),
     "truncated or corrupt"),
]


@pytest.mark.parametrize("case,make,message", IDX_CASES, ids=[c[0] for c in IDX_CASES])
def test_damaged_dataset_files_are_named_in_one_line(case, make, message, tmp_path):
    from jaxnas.data import load_dataset

    make(tmp_path)
    with pytest.raises(JaxnasError, match=message) as error:
        load_dataset("fashion_mnist", "train", data_dir=tmp_path, backend="files")
    assert "\n" not in str(error.value) and "fashion_mnist" in str(error.value)


def test_train_population_rejects_wrong_genomes_and_keys_at_once():
    from jaxnas.data import ArrayDataset, dataset_info
    from jaxnas.train import TrainRecipe, train_population

    info = dataset_info("fashion_mnist")
    data = ArrayDataset(np.zeros((64, 28, 28, 1), np.uint8), np.zeros(64, np.int32), info)
    g = "L4-C8-o0000-k3333"
    import jax

    from jaxnas.spaces import get_space

    g = get_space("egnas", min_depth=1, min_width=1).parse(g)
    for genomes, space, key, message in ((["L4-C8-o0000-k3333"], "egnas", None, "genome 0"),
                                         ([g], "egnas", 0, "key=0"),
                                         ([g], "nb999", None, "space 'nb999'"),
                                         ([g], "nb201", None, "not a NB201Genome")):
        with pytest.raises(JaxnasError, match=message):
            train_population(space, genomes, TrainRecipe(epochs=1), data, data,
                             key=jax.random.PRNGKey(0) if key is None else key)
