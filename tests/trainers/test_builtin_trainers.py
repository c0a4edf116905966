"""The built-in classifiers learn, split their data once and honestly, and use the device."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
import torch

from trainers.builtin.digits import DigitsMLP, load_digits_arrays
from trainers.builtin.mnist1d import MNIST1DCNN, cache_path, generate_arrays, load_mnist1d_arrays
from trainers.device import select_device
from trainers.loop import split_arrays, stratified_split
from trainers.runner import execute_segment

from .conftest import Effects, Spec


def test_digits_mlp_validation_accuracy_rises(cpu: Any) -> None:
    effects = Effects()
    result = execute_segment(
        Spec("digits-mlp", {"lr": 3e-3, "hidden": 128}, budget=4, objective_metric="val_acc"),
        device=cpu,
        **effects.kwargs(),
    )
    accs = [v for _, v in effects.series("val_acc")]
    losses = [v for _, v in effects.series("val_loss")]
    assert result.outcome == "done" and len(accs) == 4
    assert accs[0] < accs[-1] and accs[-1] > 0.85
    assert losses[0] > losses[-1]
    assert result.value == accs[-1], "the rung's value is the objective at the final step"


def test_digits_cnn_learns(cpu: Any) -> None:
    effects = Effects()
    result = execute_segment(
        Spec("digits-cnn", {"lr": 3e-3, "channels": 8}, budget=3), device=cpu, **effects.kwargs()
    )
    accs = [v for _, v in effects.series("val_acc")]
    assert result.outcome == "done" and accs[-1] > accs[0] and accs[-1] > 0.5


def test_fractional_budget_rounds_up_and_evaluates_at_the_end(cpu: Any) -> None:
    effects = Effects()
    result = execute_segment(
        Spec("digits-mlp", {"lr": 3e-3}, budget=1 / 3, trainer_args={"batch_size": 100}),
        device=cpu,
        **effects.kwargs(),
    )
    # 1797 images: 359 test, 288 validation, 1150 training -> 12 steps per epoch.
    assert result.step == 4 and result.resource_done == pytest.approx(4 / 12)
    assert effects.series("val_loss")[-1][0] == 4


def test_split_is_fixed_stratified_and_disjoint() -> None:
    arrays = load_digits_arrays()
    args = {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0}
    a, b = split_arrays(arrays, args), split_arrays(arrays, args)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    sizes = {k: len(v) for k, v in a.items() if k.startswith("y")}
    assert sum(sizes.values()) == len(arrays.y)
    assert sizes["y_test"] == pytest.approx(0.2 * len(arrays.y), abs=10)
    rows = {k: {x.tobytes() for x in a[k]} for k in ("x_train", "x_val", "x_test")}
    assert not (rows["x_train"] & rows["x_val"]) and not (rows["x_train"] & rows["x_test"])
    for part in ("y_train", "y_val", "y_test"):  # every class in every split
        assert set(np.unique(a[part])) == set(range(10))
    other = split_arrays(arrays, {**args, "split_seed": 1})
    assert not np.array_equal(other["y_val"], a["y_val"])


def test_stratified_split_holds_out_the_fraction_of_each_class() -> None:
    y = np.repeat(np.arange(4), 50)
    rest, held = stratified_split(y, 0.2, seed=0)
    assert len(held) == 40 and np.bincount(y[held]).tolist() == [10, 10, 10, 10]
    assert set(rest).isdisjoint(held) and len(rest) + len(held) == 200


def test_mnist1d_uses_the_generators_own_test_set(settings: Any, tmp_path: Any) -> None:
    arrays = load_mnist1d_arrays()
    assert arrays.x.shape == (4000, 1, 40) and arrays.x_test is not None
    assert arrays.x_test.shape == (1000, 1, 40) and arrays.x.dtype == np.float32
    parts = split_arrays(arrays, {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0})
    assert len(parts["y_test"]) == 1000 and len(parts["y_val"]) == 800
    assert cache_path().is_file()


@pytest.mark.slow
def test_mnist1d_generation_is_the_default_dataset_and_leaves_rngs_alone() -> None:
    random.seed(5)
    np.random.seed(5)
    expected = (random.random(), np.random.rand())
    random.seed(5)
    np.random.seed(5)
    data = generate_arrays()
    assert (random.random(), np.random.rand()) == expected
    cached = load_mnist1d_arrays()  # from the cache (or generated now and cached)
    assert np.array_equal(cached.x[:, 0, :], data["x"]) and np.array_equal(cached.y, data["y"])
    labels = np.concatenate([data["y"], data["y_test"]])
    assert data["x"].shape == (4000, 40) and np.bincount(labels).tolist() == [500] * 10


def test_mnist1d_cnn_trains(cpu: Any) -> None:
    effects = Effects()
    result = execute_segment(
        Spec("mnist1d-cnn", {"lr": 3e-3, "channels": 8, "kernel_size": 3}, budget=1),
        device=cpu,
        **effects.kwargs(),
    )
    assert result.outcome == "done" and result.step == 50  # 3200 training signals / 64
    assert effects.series("val_acc")[-1][1] > 0.15


def test_models_match_their_input_shapes() -> None:
    for trainer, shape in ((DigitsMLP(), (1, 8, 8)), (MNIST1DCNN(), (1, 40))):
        for params in ({}, {"kernel_size": 7, "channels": 9, "layers": 3, "hidden": 17}):
            model = trainer.build_model(params, shape)
            assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_cpu_uses_one_thread() -> None:
    select_device(prefer_cuda=False)
    assert torch.get_num_threads() == 1
