import numpy as np
import pytest

from workloads import nn
from workloads.datasets import Dataset, load_digits
from workloads.models import lenet_digits, magnitude_masks, mlp_digits
from workloads.training import SGD, Adam, TrainConfig, finetune, recipe, train, train_with_config


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def dense_mlp(digits):
    return train_with_config(mlp_digits(seed=0), digits, recipe("mlp_digits", seed=0))


def _assert_bit_identical(a, b):
    wa, wb = a.model.weights, b.model.weights
    assert wa.keys() == wb.keys()
    for key in wa:
        assert wa[key].tobytes() == wb[key].tobytes(), key
    assert a.train_loss == b.train_loss and a.val_accuracy == b.val_accuracy


# ------------------------------------------------------------------------ acceptance: accuracy


def test_mlp_reaches_97_percent_from_scratch(digits, dense_mlp):
    assert dense_mlp.model.accuracy(digits, "test") >= 0.97
    assert len(dense_mlp.train_loss) == recipe("mlp_digits").epochs
    assert dense_mlp.train_loss[-1] < dense_mlp.train_loss[0]


def test_lenet_reaches_97_percent_from_scratch(digits):
    result = train_with_config(lenet_digits(seed=0), digits, recipe("lenet_digits", seed=0))
    assert result.model.accuracy(digits, "test") >= 0.97


@pytest.mark.parametrize("factory", [mlp_digits, lenet_digits])
@pytest.mark.parametrize("optimizer", [Adam(lr=2e-3), SGD(lr=0.05, momentum=0.9, weight_decay=1e-4)])
def test_same_seed_gives_bit_identical_weights(digits, factory, optimizer):
    runs = [train(factory(seed=7), digits, epochs=2, optimizer=optimizer, seed=7) for _ in range(2)]
    _assert_bit_identical(*runs)
    assert runs[0].model.accuracy(digits) == runs[1].model.accuracy(digits)
    other = train(factory(seed=7), digits, epochs=2, optimizer=optimizer, seed=8)
    assert other.model.weights["fc1"].tobytes() != runs[0].model.weights["fc1"].tobytes()


def test_training_does_not_mutate_its_input(digits):
    model = mlp_digits(seed=1)
    before = model.digest()
    train(model, digits, epochs=1, optimizer=Adam(), seed=0)
    assert model.digest() == before


# ------------------------------------------------------------------------ acceptance: pruning


def test_finetune_after_80_percent_pruning_recovers_within_1_point(digits, dense_mlp):
    dense = dense_mlp.model
    dense_accuracy = dense.accuracy(digits, "test")
    masks = magnitude_masks(dense.weights, 0.8)
    pruned_accuracy = dense.accuracy(digits, "test", masks=masks)
    assert pruned_accuracy < dense_accuracy - 0.05  # the pruning really hurt before fine-tuning
    tuned = finetune(dense, digits, masks, epochs=20, optimizer=Adam(lr=2e-3), seed=0).model
    assert tuned.accuracy(digits, "test") >= dense_accuracy - 0.01
    for name, mask in masks.items():
        weight = tuned.weights[name]
        assert np.all(weight[~mask] == 0) and not np.any(np.signbit(weight[~mask])), name
        assert np.count_nonzero(weight) <= mask.sum()


@pytest.mark.parametrize("optimizer", [
    SGD(lr=0.1, momentum=0.9, weight_decay=1e-3, nesterov=True),
    Adam(lr=1e-2, weight_decay=1e-3),
])  # fmt: skip
def test_masked_training_keeps_pruned_weights_exactly_zero(digits, optimizer):
    # Start from non-zero weights everywhere, so zeros can only come from the masks.
    model = lenet_digits(seed=2)
    rng = np.random.default_rng(0)
    masks = {name: rng.random(model.weights[name].shape) < 0.3 for name in ("conv1", "conv2", "fc1", "fc3")}
    result = train(model, digits, epochs=2, optimizer=optimizer, seed=0, masks=masks, batch_size=128)
    for name, mask in masks.items():
        weight = result.model.weights[name]
        assert np.all(weight[~mask] == 0) and not np.any(np.signbit(weight[~mask])), name
        assert np.all(weight[mask] != model.weights[name][mask]), name  # kept weights did train
    # The unmasked layer trained densely.
    assert np.count_nonzero(result.model.weights["fc2"]) == result.model.weights["fc2"].size


def test_finetune_requires_masks(digits):
    with pytest.raises(ValueError, match="masks are required"):
        finetune(mlp_digits(), digits, None, epochs=1, optimizer=Adam(), seed=0)


# --------------------------------------------------------------------------- optimizer maths


def _one_batch(digits, n=32):
    x, y = digits.x_train[:n], digits.y_train[:n]
    return x, y, Dataset("one", x, y, x[:0], y[:0], x[:0], y[:0])


def test_one_sgd_step_is_w_minus_lr_g(digits):
    x, y, data = _one_batch(digits)
    model = mlp_digits(seed=3)
    logits, tape = model.forward(x)
    _, dlogits = nn.softmax_cross_entropy(logits, y)
    grads = model.backward(tape, dlogits)
    result = train(
        model,
        data,
        epochs=1,
        optimizer=SGD(lr=0.1, momentum=0.9),
        seed=0,
        batch_size=len(y),
        schedule="constant",
    )
    for key, w in model.weights.items():
        np.testing.assert_allclose(result.model.weights[key], w - 0.1 * grads[key], rtol=1e-6, atol=1e-7)


def test_first_adam_step_moves_each_weight_by_lr(digits):
    x, y, data = _one_batch(digits)
    model = mlp_digits(seed=3)
    logits, tape = model.forward(x)
    grads = model.backward(tape, nn.softmax_cross_entropy(logits, y)[1])
    result = train(
        model, data, epochs=1, optimizer=Adam(lr=1e-3), seed=0, batch_size=len(y), schedule="constant"
    )
    for key, w in model.weights.items():
        step = result.model.weights[key] - w
        big = np.abs(grads[key]) > 1e-5  # where eps is negligible, the bias-corrected step is lr * sign(g)
        np.testing.assert_allclose(step[big], -1e-3 * np.sign(grads[key][big]), rtol=1e-2)


def test_cosine_schedule_and_config_validation(digits):
    with pytest.raises(ValueError, match="epochs must be an int >= 0, got -1"):
        TrainConfig(epochs=-1, optimizer=Adam(), seed=0)
    with pytest.raises(ValueError, match="schedule must be one of"):
        TrainConfig(epochs=1, optimizer=Adam(), seed=0, schedule="step")
    with pytest.raises(ValueError, match="optimizer must be SGD"):
        TrainConfig(epochs=1, optimizer="adam", seed=0)
    with pytest.raises(ValueError, match="SGD: momentum must be in"):
        SGD(momentum=1.0)
    with pytest.raises(ValueError, match="Adam: lr must be a finite number > 0, got 0"):
        Adam(lr=0)
    config = recipe("lenet_digits", seed=4)
    assert config.to_dict()["optimizer"]["kind"] == "Adam" and config.seed == 4
    with pytest.raises(ValueError, match="no training recipe for model 'vgg'"):
        recipe("vgg")


def test_model_and_dataset_shapes_must_agree(digits):
    with pytest.raises(ValueError, match="takes 784 input features but dataset 'digits'"):
        train(mlp_digits(input_hw=28), digits, epochs=1, optimizer=Adam(), seed=0)
    with pytest.raises(ValueError, match=r"takes inputs of shape \(1, 28, 28\)"):
        train(lenet_digits(input_hw=28), digits, epochs=1, optimizer=Adam(), seed=0)
