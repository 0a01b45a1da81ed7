"""FTRL-Proximal logistic regression: learning, state safety, importance weights, copies."""

from __future__ import annotations

import copy
import math
import pickle
import random
from collections.abc import Iterator

import pytest

from learners.ftrl import FTRLLogisticRegression


def _separable_stream(n: int, seed: int) -> Iterator[tuple[dict[str, float], bool]]:
    """Each example has a bias, one of 20 keys that decides the label, and 3 noise keys."""
    rng = random.Random(seed)
    for _ in range(n):
        key = rng.randrange(20)
        x = {"bias": 1.0, f"k{key}": 1.0, **{f"noise{rng.randrange(100)}": 1.0 for _ in range(3)}}
        yield x, key < 5


def _entropy(rate: float) -> float:
    return -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))


def _trained(n: int = 500, seed: int = 7, **params: float) -> FTRLLogisticRegression:
    model = FTRLLogisticRegression(**params)
    for x, y in _separable_stream(n, seed):
        model.learn_one(x, y)
    return model


def test_learns_a_separable_stream_better_than_the_constant_predictor() -> None:
    model = FTRLLogisticRegression(alpha=0.1)
    losses, labels = [], []
    for x, y in _separable_stream(5_000, seed=1):
        p = model.predict_proba_one(x)[True]  # predict before learning
        losses.append(-math.log(p if y else 1 - p))
        labels.append(y)
        model.learn_one(x, y)
    constant = _entropy(sum(labels) / len(labels))  # best constant predictor, in hindsight
    assert sum(losses) / len(losses) < 0.5 * constant
    assert sum(losses[-1000:]) < 0.5 * sum(losses[:1000])  # still improving
    assert sum(losses[-1000:]) / 1000 < 0.35 * constant
    assert model.predict_one({"bias": 1.0, "k0": 1.0}) is True
    assert model.predict_one({"bias": 1.0, "k19": 1.0}) is False


def test_unseen_model_predicts_one_half_and_weights_are_empty() -> None:
    model = FTRLLogisticRegression()
    assert model.predict_proba_one({"a": 1.0, "b": -3.0}) == {False: 0.5, True: 0.5}
    assert model.weights == {}


def test_pickle_and_deepcopy_give_identical_predictions() -> None:
    model = _trained()
    probe = [x for x, _ in _separable_stream(50, seed=99)]
    for other in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert [other.predict_proba_one(x) for x in probe] == [
            model.predict_proba_one(x) for x in probe
        ]
        assert other._n_learned == model._n_learned == 500


def test_clone_keeps_hyperparameters_and_drops_state() -> None:
    model = _trained(alpha=0.2, beta=0.5, l1=0.01, l2=2.0)
    fresh = model.clone()
    assert fresh._get_params() == {"alpha": 0.2, "beta": 0.5, "l1": 0.01, "l2": 2.0}
    assert fresh._z == fresh._n == {} and fresh._n_learned == 0
    x, y = next(_separable_stream(1, seed=3))
    fresh.learn_one(x, y)
    other = model.clone()
    other.learn_one(x, y)
    assert fresh.predict_proba_one(x) == other.predict_proba_one(x)


@pytest.mark.parametrize(
    "bad",
    [{"k0": math.nan}, {"k0": math.inf}, {"never_seen": -math.inf}, {"k0": 1e200, "k1": 1e200}],
)
def test_invalid_values_raise_before_touching_state(bad: dict[str, float]) -> None:
    model = _trained()
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match=r"x has|overflow"):
        model.learn_one({"bias": 1.0, **bad}, True)
    assert pickle.dumps(model) == before
    assert all(math.isfinite(v) for v in (*model._z.values(), *model._n.values()))


@pytest.mark.parametrize("x", [{"k0": math.nan}, {"never_seen": math.inf}])
def test_predict_rejects_non_finite_values(x: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        _trained().predict_proba_one(x)


@pytest.mark.parametrize("w", [0.0, -1.0, math.nan, math.inf])
def test_rejects_bad_importance_weight(w: float) -> None:
    model = _trained()
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="importance weight"):
        model.learn_one({"bias": 1.0}, True, w=w)
    assert pickle.dumps(model) == before


@pytest.mark.parametrize(
    "params", [{"alpha": 0.0}, {"beta": -1.0}, {"l1": math.nan}, {"l2": -0.1}, {"alpha": math.inf}]
)
def test_rejects_bad_hyperparameters(params: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be finite"):
        FTRLLogisticRegression(**params)


def _ftrl_step(
    z: float,
    n: float,
    v: float,
    y: float,
    w: float,
    alpha: float,
    beta: float,
    l1: float,
    l2: float,
) -> tuple[float, float]:
    """Algorithm 1 of McMahan et al. (2013) for a one-coordinate x, gradient scaled by w."""
    weight = 0.0 if abs(z) <= l1 else -(z - math.copysign(l1, z)) / ((beta + n**0.5) / alpha + l2)
    p = 1 / (1 + math.exp(-weight * v))
    g = w * (p - y) * v
    sigma = ((n + g * g) ** 0.5 - n**0.5) / alpha
    return z + g - sigma * weight, n + g * g


@pytest.mark.parametrize("w", [0.5, 1.0, 2.0, 7.0])
def test_importance_weight_scales_the_gradient(w: float) -> None:
    params = {"alpha": 0.3, "beta": 1.0, "l1": 0.2, "l2": 0.5}
    model = FTRLLogisticRegression(**params)
    z, n = 0.0, 0.0
    for v, y in [(1.5, True), (1.5, True), (-0.5, False), (2.0, False)]:
        model.learn_one({"a": v}, y, w=w)
        z, n = _ftrl_step(z, n, v, y, w, **params)
        assert model._z["a"] == pytest.approx(z, rel=1e-12)
        assert model._n["a"] == pytest.approx(n, rel=1e-12)


def test_l1_zeroes_small_weights() -> None:
    dense, sparse = _trained(l1=0.0), _trained(l1=2.0)
    assert len(sparse.weights) < len(dense.weights)
    assert all(w != 0.0 for w in dense.weights.values())
    assert sparse._z.keys() == dense._z.keys()  # state is kept even where the weight is 0


def test_feature_values_other_than_one_are_supported() -> None:
    model = FTRLLogisticRegression(alpha=0.5)
    rng = random.Random(3)
    for _ in range(3_000):
        v = rng.uniform(-2, 2)
        model.learn_one({"bias": 1.0, "v": v}, v > 0.3)
    assert model.predict_proba_one({"bias": 1.0, "v": 1.5})[True] > 0.9
    assert model.predict_proba_one({"bias": 1.0, "v": -1.5})[True] < 0.1


def test_soft_labels_converge_to_the_mean_target() -> None:
    rng = random.Random(11)
    model = FTRLLogisticRegression()
    targets = [rng.random() ** 2 for _ in range(20_000)]  # ratings in [0, 1], mean 1/3
    for y in targets:
        model.learn_one({"bias": 1.0}, y)
    assert model.predict_proba_one({"bias": 1.0})[True] == pytest.approx(1 / 3, abs=0.01)
    assert sum(targets) / len(targets) == pytest.approx(1 / 3, abs=0.01)


@pytest.mark.parametrize("w", [0.5, 1.0, 3.0])
def test_soft_label_step_follows_the_cross_entropy_gradient(w: float) -> None:
    params = {"alpha": 0.3, "beta": 1.0, "l1": 0.2, "l2": 0.5}
    model = FTRLLogisticRegression(**params)
    z, n = 0.0, 0.0
    for v, y in [(1.5, 0.8), (1.5, 0.9), (-0.5, 0.1), (2.0, 0.0), (1.0, 1.0), (0.5, 0.5)]:
        model.learn_one({"a": v}, y, w=w)
        z, n = _ftrl_step(z, n, v, y, w, **params)
        assert model._z["a"] == pytest.approx(z, rel=1e-12)
        assert model._n["a"] == pytest.approx(n, rel=1e-12)


def test_bool_and_matching_float_labels_give_identical_states() -> None:
    hard, soft = FTRLLogisticRegression(), FTRLLogisticRegression()
    for x, y in _separable_stream(300, seed=5):
        hard.learn_one(x, y)
        soft.learn_one(x, 1.0 if y else 0.0)
    assert hard._z == soft._z and hard._n == soft._n


@pytest.mark.parametrize("y", [-0.1, 1.5, math.nan, math.inf, -math.inf, "0.5", None])
def test_rejects_bad_labels_before_touching_state(y: object) -> None:
    model = _trained()
    before = pickle.dumps(model)
    with pytest.raises(ValueError, match="y must be a bool or a number in"):
        model.learn_one({"bias": 1.0, "k0": 1.0}, y)
    assert pickle.dumps(model) == before
