"""gnode.tasks.datasets: the .ts reader, padding/standardization, the classifier factory."""

from __future__ import annotations

import numpy as np
import pytest

from gnode.tasks.datasets import (
    classification_table,
    data_path,
    load_dataset,
    make_classifier,
    read_ts,
)

TS = """# comment
@problemName Toy
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
1,2,3:4,5,6:a
7,8:9,10:b
"""


def test_read_ts(tmp_path):
    p = tmp_path / "Toy_TRAIN.ts"
    p.write_text(TS)
    series, labels, header = read_ts(p)
    assert labels == ["a", "b"] and header["classlabel"] == ["a", "b"]
    assert np.array_equal(series[0], [[1, 4], [2, 5], [3, 6]])
    assert series[1].shape == (2, 2)
    p.write_text(TS.replace("7,8:9,10:b", "7,8:9:b"))
    with pytest.raises(ValueError, match="unequal"):
        read_ts(p)
    p.write_text(TS.replace("7,8", "7,?"))
    with pytest.raises(ValueError, match="cannot parse"):
        read_ts(p)


def test_bad_names():
    with pytest.raises(ValueError, match="name"):
        data_path("Nope", "TRAIN")
    with pytest.raises(ValueError, match="split"):
        data_path("BasicMotions", "VALID")
    with pytest.raises(ValueError, match="GRU"):
        make_classifier("gru", 3, 2, init="critical")


@pytest.fixture(scope="module")
def vowels():
    try:
        return load_dataset("JapaneseVowels")
    except FileNotFoundError:
        pytest.skip("JapaneseVowels not installed (pip install --no-deps sktime)")


def test_japanese_vowels_published_sizes(vowels):
    # UCI / UEA description: 270 train, 370 test, 12 channels, 9 speakers, lengths 7..29
    assert vowels.x_train.shape[0] == 270 and vowels.x_test.shape[0] == 370
    assert vowels.n_channels == 12 and vowels.n_classes == 9
    assert vowels.len_train.min() >= 7 and vowels.x_train.shape[1] <= 29
    # 30 training utterances per speaker
    assert np.array_equal(np.bincount(vowels.y_train), np.full(9, 30))
    # standardized on valid samples (mean 0, std 1 per channel), zero padding after lengths
    mask = np.arange(vowels.x_train.shape[1])[None] < vowels.len_train[:, None]
    valid = vowels.x_train[mask]
    assert np.allclose(valid.mean(0), 0, atol=1e-10) and np.allclose(valid.std(0), 1)
    assert not vowels.x_train[~mask].any()


def test_critical_init_sets_rho(vowels):
    import gnode

    m = make_classifier("node", vowels.n_channels, vowels.n_classes, state_dim=40,
                        init="critical", seed=0)
    # theory rho = 1; finite N = 40 edge fluctuation O(N^-1/2) ~ 0.16 -> 0.35 tolerance
    assert abs(gnode.spectral_radius(m) - 1.0) < 0.35


def test_tiny_table_runs(vowels):
    rows = classification_table([vowels.subset(40, 40)], models=("elman", "gru"),
                                inits=("default", "critical"), seeds=(0,), epochs=1,
                                state_dim=8)
    assert [(r.model, r.init) for r in rows] == [("elman", "default"),
                                                  ("elman", "critical"), ("gru", "default")]
    assert all(0 <= r.accuracy <= 1 and r.seconds > 0 for r in rows)
