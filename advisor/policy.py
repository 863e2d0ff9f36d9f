"""The one ordered list of rules. For each key the first rule whose ``applies`` is true decides it.

Reading order = evaluation order: later keys may read earlier choices (the loss reads the output
activation's task, the normalization reads the batch size, the estimates read everything).
"""

from __future__ import annotations

from advisor.rules import (
    architecture as arch,
)
from advisor.rules import (
    assumptions as a,
)
from advisor.rules import (
    batch_size as bs,
)
from advisor.rules import (
    budget,
    checklist,
    class_weights,
    classical,
    data_prep,
    family,
    forests,
    kernels,
    normalization,
    optimizer,
    output_loss,
    regularization,
    transfer,
)
from advisor.rules.base import Rule

Chain = tuple[str, tuple[Rule, ...]]


def _chain(key: str, *rules: type[Rule]) -> Chain:
    return key, tuple(r() for r in rules)


ASSUMPTIONS: tuple[Rule, ...] = tuple(
    r()
    for r in (
        a.AssumeLabelFormat,
        a.AssumeMinorityShare,
        a.AssumeOutliers,
        a.AssumeMissing,
        a.AssumeFeatures,
        a.AssumeImageSize,
        a.AssumeSequenceLength,
        a.AssumeTextLength,
        a.AssumeInterpretability,
        a.AssumeGpu,
        a.AssumeCompute,
        a.AssumePerformance,
        a.AssumeSimilarity,
        a.AssumeDeployment,
        a.AssumeTimeBudget,
    )
)

FAMILY: tuple[Rule, ...] = tuple(
    r()
    for r in (
        family.DataTypeQuestion,
        family.SizeQuestion,
        family.InterpretabilityQuestion,
        family.ComputeQuestion,
        family.PerformanceQuestion,
        family.FamilyVerdict,
    )
)

_DATA_PREP = (
    _chain("split", data_prep.Split),
    _chain("imputation", data_prep.ImputeNative, data_prep.ImputeMedian),
)

DEEP_LEARNING: tuple[Chain, ...] = (
    _chain("transfer", transfer.TransferPlan, transfer.NoTransfer),
    _chain(
        "architecture",
        arch.ArchitectureMLP,
        arch.ArchitectureCNNTransfer,
        arch.ArchitectureCNN,
        arch.ArchitectureTransformerPretrained,
        arch.ArchitectureTransformer,
        arch.ArchitectureRNN,
    ),
    _chain(
        "hidden_activation",
        output_loss.HiddenActivationTransformer,
        output_loss.HiddenActivationRNN,
        output_loss.HiddenActivationDefault,
    ),
    _chain("output_units", output_loss.OutputUnits),
    _chain("output_activation", output_loss.OutputActivation),
    _chain(
        "loss",
        output_loss.LossFocal,
        output_loss.LossBinary,
        output_loss.LossSparseCategorical,
        output_loss.LossCategorical,
        output_loss.LossPointMass,
        output_loss.LossMAE,
        output_loss.LossHuber,
        output_loss.LossMSE,
    ),
    _chain(
        "optimizer",
        optimizer.OptimizerAdamW,
        optimizer.OptimizerRMSprop,
        optimizer.OptimizerSGDVision,
        optimizer.OptimizerAdam,
    ),
    _chain("batch_size", bs.BatchFull, bs.BatchLarge, bs.BatchSmallForMemory, bs.BatchDefault),
    _chain("device", budget.Device),
    _chain("epochs", regularization.EpochsBudgetCut, regularization.Epochs),
    _chain("early_stopping", regularization.EarlyStopping),
    _chain(
        "lr_schedule",
        optimizer.ScheduleWarmupTransformer,
        optimizer.ScheduleSGDStep,
        optimizer.ScheduleTransferCosine,
        optimizer.SchedulePlateau,
    ),
    _chain(
        "dropout",
        regularization.DropoutConv,
        regularization.DropoutRecurrent,
        regularization.DropoutTransformer,
        regularization.DropoutDense,
    ),
    _chain("l2", regularization.L2Transformer, regularization.L2SmallData, regularization.L2Default),
    _chain("augmentation", regularization.AugmentImages, regularization.NoAugmentation),
    _chain(
        "normalization",
        normalization.NormLayer,
        normalization.NormBatch,
        normalization.NormGroup,
        normalization.NormLayerSmallBatch,
    ),
    _chain("gradient_clipping", regularization.GradientClipping, regularization.NoGradientClipping),
    *_DATA_PREP,
    _chain("scaling", data_prep.ScaleForNetworks),
    _chain("memory_estimate", budget.MemoryEstimate),
    _chain("time_estimate", budget.TimeEstimate),
)

_BOOSTING_COMMON = (
    _chain("n_estimators", classical.BoostingRounds),
    _chain("learning_rate", classical.BoostingLearningRate),
    _chain("early_stopping_rounds", classical.BoostingEarlyStopping),
    _chain("num_class", classical.NumClass),
)

XGBOOST: tuple[Chain, ...] = (
    _chain("objective", classical.XGBObjective),
    _chain("eval_metric", classical.XGBEvalMetric),
    _chain("tree_method", classical.XGBTreeMethod),
    *_BOOSTING_COMMON,
    _chain("max_depth", classical.XGBMaxDepth),
    _chain("subsample", classical.XGBSubsample),
    _chain("colsample_bytree", classical.XGBColsample),
    _chain("min_child_weight", classical.XGBMinChildWeight),
    _chain("reg_lambda", classical.XGBLambda),
    _chain("scale_pos_weight", class_weights.XGBScalePosWeight),
    _chain("input_features", classical.BaselineInputs),
    *_DATA_PREP,
    _chain("scaling", data_prep.ScaleNative),
)

LIGHTGBM: tuple[Chain, ...] = (
    _chain("objective", classical.LGBObjective),
    _chain("metric", classical.LGBMetric),
    *_BOOSTING_COMMON,
    _chain("num_leaves", classical.LGBLeaves),
    _chain("min_child_samples", classical.LGBMinChild),
    _chain("feature_fraction", classical.LGBFeatureFraction),
    _chain("bagging_fraction", classical.LGBBaggingFraction),
    _chain("bagging_freq", classical.LGBBaggingFreq),
    _chain("lambda_l2", classical.LGBLambda),
    _chain("is_unbalance", class_weights.LGBUnbalance),
    _chain("input_features", classical.BaselineInputs),
    *_DATA_PREP,
    _chain("scaling", data_prep.ScaleNative),
)

_FOREST_COMMON = (
    _chain("n_estimators", forests.ForestTrees),
    _chain("max_features", forests.ForestMaxFeatures),
    _chain("min_samples_leaf", forests.ForestMinLeaf),
    _chain("max_depth", forests.ForestMaxDepth),
    _chain("class_weight", forests.ForestClassWeight),
    _chain("input_features", classical.BaselineInputs),
    *_DATA_PREP,
    _chain("scaling", data_prep.ScaleNative),
)

RANDOM_FOREST: tuple[Chain, ...] = _FOREST_COMMON
EXTRA_TREES: tuple[Chain, ...] = _FOREST_COMMON

KNN: tuple[Chain, ...] = (
    _chain("n_neighbors", kernels.KnnNeighbors),
    _chain("weights", kernels.KnnWeights),
    _chain("input_features", classical.BaselineInputs),
    *_DATA_PREP,
    _chain("scaling", kernels.ScaleForDistances),
)

SVM: tuple[Chain, ...] = (
    _chain("C", kernels.SvmC),
    _chain("gamma", kernels.SvmGamma),
    _chain("epsilon", kernels.SvmEpsilon),
    _chain("class_weight", kernels.SvmClassWeight),
    _chain("input_features", classical.BaselineInputs),
    *_DATA_PREP,
    _chain("scaling", kernels.ScaleForDistances),
)

LOGISTIC_BASELINE: tuple[Chain, ...] = (
    _chain("C", classical.BaselineC),
    _chain("penalty", classical.BaselinePenalty),
    _chain("class_weight", classical.BaselineClassWeight),
    _chain("max_iter", classical.BaselineMaxIter),
    _chain("input_features", classical.BaselineInputs),
    *_DATA_PREP,
    _chain("scaling", classical.BaselineScaling),
)

RIDGE_BASELINE: tuple[Chain, ...] = (
    _chain("alpha", classical.BaselineAlpha),
    _chain("input_features", classical.BaselineInputs),
    *_DATA_PREP,
    _chain("scaling", classical.BaselineScaling),
)

CHECKLIST: tuple[Rule, ...] = tuple(
    r()
    for r in (
        checklist.CheckScale,
        checklist.CheckMissing,
        checklist.CheckSplit,
        checklist.CheckAugment,
        checklist.CheckImbalance,
        checklist.CheckArchitecture,
        checklist.CheckTraining,
        checklist.CheckMonitor,
        checklist.CheckEvaluate,
    )
)

CANDIDATE_CHAINS: dict[str, tuple[Chain, ...]] = {
    "deep_learning": DEEP_LEARNING,
    "xgboost": XGBOOST,
    "lightgbm": LIGHTGBM,
    "random_forest": RANDOM_FOREST,
    "extra_trees": EXTRA_TREES,
    "knn": KNN,
    "svm": SVM,
    "logistic_regression": LOGISTIC_BASELINE,
    "ridge_regression": RIDGE_BASELINE,
}
