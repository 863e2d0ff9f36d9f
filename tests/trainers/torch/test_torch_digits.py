"""The CNN reaches ≥ 97% test accuracy on scikit-learn's 8×8 digits with the advisor's recipe.

Two changes to the recipe, both within what the advisor itself says:

* no horizontal flip: the advisor's own augmentation reason reads "drop the flip if orientation carries
  the label (digits, text)". With the flip the same run ends near 96.7%; mirrored digits are other shapes.
* 30 epochs with the §4 cosine schedule (the advisor's schedule for short fixed-length runs) instead of up
  to 100 epochs with ReduceLROnPlateau: the full recipe reaches 97.0% too, but needs about 90 epochs
  (roughly 3 minutes here under load) — too long for CI on two cores.

Everything else — layers, BatchNorm, dropout 0.2/0.5, L2 0.01, Adam 1e-3, batch 32, crop and rotation
augmentation, early stopping on validation loss with the best checkpoint — is the advisor's value.
"""

from __future__ import annotations

from pathlib import Path

from _torch_fixtures import digits_images, digits_params

from trainers.spec import TrainSpec
from trainers.torch.data import make_array_data
from trainers.torch.jobs import fit_and_evaluate_arrays


def test_cnn_reaches_97_percent_on_digits(tmp_path: Path) -> None:
    x, y = digits_images()
    data = make_array_data(x, y, "multiclass", "image")
    recipe = digits_params()
    params = digits_params(
        epochs=30,
        lr_schedule={"name": "cosine", "t_max_epochs": 30},
        augmentation={k: v for k, v in recipe["augmentation"].items() if k != "horizontal_flip"},
    )
    result, info = fit_and_evaluate_arrays(
        TrainSpec(trainer="torch_cnn", params=params, seed=0, n_threads=1), data, None, tmp_path
    )
    assert result.metrics["test"]["accuracy"] >= 0.97, result.metrics["test"]
    assert result.split.test_size == 270 and result.split.stratified
    assert info["device"] == "cpu" and info["notes"] == []
    assert result.best_iteration == min(range(result.n_rounds), key=lambda i: result.curves.val_loss[i])
