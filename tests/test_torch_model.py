"""TorchModel: masked evaluation, masked fine-tuning that never revives a weight, determinism by seed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from workloads import nn as wnn
from workloads.datasets import Dataset, load_digits
from workloads.models import mlp_digits
from workloads.torch_model import TorchModel
from workloads.torch_training import make_optimizer, pruned_entries, zero_pruned
from workloads.training import SGD, Adam, TrainConfig


class SmallCnn(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.fc1 = torch.nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        return self.fc1(x.flatten(1))


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


@pytest.fixture()
def model() -> TorchModel:
    torch.manual_seed(0)
    return TorchModel(SmallCnn(), torch.zeros(1, 1, 8, 8), name="small_cnn")


def random_masks(model: TorchModel, keep: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.random(shape) < keep for name, shape in model.layers.items()}


def test_prunable_layers_are_linear_and_conv_modules_by_name(model):
    assert model.layers == {"conv1": (4, 1, 3, 3), "fc1": (10, 64)}
    assert set(model.weights) == {"conv1", wnn.bias_key("conv1"), "fc1", wnn.bias_key("fc1")}


def test_masked_evaluation_equals_a_hand_masked_forward(model, digits):
    masks = random_masks(model, 0.4)
    by_hand = model.module()
    with torch.no_grad():
        by_hand.conv1.weight[torch.tensor(~masks["conv1"])] = 0.0
        by_hand.fc1.weight[torch.tensor(~masks["fc1"])] = 0.0
        expected = by_hand(torch.tensor(digits.x_test)).numpy()
    logits = model.logits(digits.x_test, masks=masks)
    np.testing.assert_array_equal(logits, expected)
    assert model.accuracy(digits, masks=masks) == np.mean(expected.argmax(1) == digits.y_test)
    # Evaluation leaves the model's own weights alone.
    assert np.count_nonzero(model.weights["fc1"]) == model.weights["fc1"].size


def test_agrees_with_the_numpy_model_on_the_same_weights_and_masks(digits):
    numpy_model = mlp_digits(seed=3)
    torch_mlp = torch.nn.Sequential(
        torch.nn.Linear(64, 300),
        torch.nn.ReLU(),
        torch.nn.Linear(300, 100),
        torch.nn.ReLU(),
        torch.nn.Linear(100, 10),
    )
    model = TorchModel(torch_mlp, torch.zeros(1, 64))
    names = {"fc1": "0", "fc2": "2", "fc3": "4"}
    model = model.with_weights(
        {
            **{torch_name: numpy_model.weights[name] for name, torch_name in names.items()},
            **{wnn.bias_key(t): numpy_model.weights[wnn.bias_key(n)] for n, t in names.items()},
        }
    )
    rng = np.random.default_rng(1)
    numpy_masks = {name: rng.random(numpy_model.weights[name].shape) < 0.5 for name in names}
    torch_masks = {names[name]: mask for name, mask in numpy_masks.items()}
    ours = model.logits(digits.x_test, masks=torch_masks)
    theirs = numpy_model.logits(digits.x_test, masks=numpy_masks)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))


@pytest.mark.parametrize(
    "optimizer",
    [SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2), Adam(lr=3e-3, weight_decay=1e-2)],
)
def test_finetune_keeps_pruned_weights_exactly_positive_zero(model, digits, optimizer):
    masks = random_masks(model, 0.3)
    result = model.finetune(digits, masks, epochs=2, optimizer=optimizer, seed=0, batch_size=128)
    tuned = result.model.weights
    for name, mask in masks.items():
        pruned = tuned[name][~mask]
        assert np.all(pruned == 0) and not np.any(np.signbit(pruned)), name
        assert not np.array_equal(tuned[name][mask], model.weights[name][mask]), f"{name} never trained"
    assert len(result.train_loss) == 2 and len(result.val_accuracy) == 2
    # The tuned model scores the same with or without its masks: nothing outside them survived.
    assert result.model.accuracy(digits, "val") == result.model.accuracy(digits, "val", masks=masks)


def test_optimizer_state_cannot_revive_a_pruned_weight(model):
    module = model.module()
    config = TrainConfig(epochs=1, optimizer=SGD(lr=0.1, momentum=0.9), seed=0)
    optimizer = make_optimizer(module, config)
    # One unmasked step fills the momentum buffer everywhere ...
    module(torch.randn(8, 1, 8, 8)).sum().backward()
    optimizer.step()
    masks = random_masks(model, 0.5)
    pruned = pruned_entries(module, masks)
    zero_pruned(pruned, optimizer)
    for weight, dropped in pruned:
        assert torch.all(optimizer.state[weight]["momentum_buffer"][dropped] == 0)
    # ... so a step with zero gradient on the pruned entries leaves them at exactly zero.
    optimizer.zero_grad()
    module(torch.randn(8, 1, 8, 8)).sum().backward()
    for weight, dropped in pruned:
        weight.grad.masked_fill_(dropped, 0.0)
    optimizer.step()
    for weight, dropped in pruned:
        assert torch.all(weight.detach()[dropped] == 0)


def test_finetune_is_bit_identical_by_seed(model, digits):
    masks = random_masks(model, 0.5)
    kwargs = {"epochs": 1, "optimizer": Adam(lr=3e-3), "batch_size": 64}
    first = model.finetune(digits, masks, seed=5, **kwargs)
    second = model.finetune(digits, masks, seed=5, **kwargs)
    other = model.finetune(digits, masks, seed=6, **kwargs)
    assert first.model.digest() == second.model.digest()
    assert first.train_loss == second.train_loss
    assert first.model.digest() != other.model.digest()
    assert model.digest() not in (first.model.digest(), other.model.digest())


def test_weights_round_trip_and_with_weights_checks_keys_and_shapes(model):
    weights = model.weights
    weights["fc1"] = np.ones_like(weights["fc1"])
    changed = model.with_weights(weights)
    np.testing.assert_array_equal(changed.weights["fc1"], 1.0)
    assert np.count_nonzero(model.weights["fc1"] == 1.0) < weights["fc1"].size  # the original is untouched
    with pytest.raises(ValueError, match=r"weight 'fc1' must have shape \(10, 64\), got \(64, 10\)"):
        model.with_weights({"fc1": np.zeros((64, 10), np.float32)})
    with pytest.raises(ValueError, match=r"unknown weight keys \['bn1'\]"):
        model.with_weights({"bn1": np.zeros(4, np.float32)})


@pytest.mark.parametrize(
    "masks, message",
    [
        ({"bn1": np.ones(4, bool)}, "mask for 'bn1': model 'small_cnn' has no such layer"),
        ({"fc1": np.ones((10, 64), np.float32)}, "mask for 'fc1': dtype must be bool, got float32"),
        (
            {"fc1": np.ones((64, 10), bool)},
            r"mask for 'fc1': shape must be the weight shape \(10, 64\), got \(64, 10\)",
        ),
    ],
)
def test_bad_masks_are_named(model, digits, masks, message):
    with pytest.raises(ValueError, match=message):
        model.accuracy(digits, masks=masks)


def test_inputs_of_the_wrong_size_are_refused(model):
    message = r"takes inputs of shape \(1, 8, 8\), got examples of shape \(1, 28, 28\)"
    with pytest.raises(ValueError, match=message):
        model.logits(np.zeros((2, 1, 28, 28), np.float32))


def test_the_search_oracle_fine_tunes_a_torch_model_the_same_way(model, digits):
    from pruning.finetuned_accuracy import FinetunedAccuracy

    oracle = FinetunedAccuracy(model, digits, epochs=1, optimizer=Adam(lr=2e-3), seed=0, batch_size=64)
    masks = random_masks(model, 0.5)
    direct = model.finetune(digits, masks, epochs=1, optimizer=Adam(lr=2e-3), seed=0, batch_size=64).model
    assert oracle(masks) == direct.accuracy(digits, "val", masks=masks)
    # A sparser mask set nested in the first warm-starts from the first's tuned weights.
    nested = {name: mask & random_masks(model, 0.5, seed=1)[name] for name, mask in masks.items()}
    warm = direct.finetune(digits, nested, epochs=1, optimizer=Adam(lr=2e-3), seed=0, batch_size=64).model
    assert oracle(nested) == warm.accuracy(digits, "val", masks=nested)
    assert oracle.finetunes == 2
