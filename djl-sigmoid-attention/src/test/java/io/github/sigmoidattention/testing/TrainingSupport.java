package io.github.sigmoidattention.testing;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

/** Trains a block with DJL's EasyTrain and measures a validation loss before and after. */
public final class TrainingSupport {

    private TrainingSupport() {}

    /**
     * Returns {validation loss before, after} of {@code epochs} epochs of Adam on {@code train},
     * with softmax cross-entropy on (B, T, 1) labels.
     */
    public static double[] fit(
            Block net,
            ArrayDataset train,
            ArrayDataset validation,
            int epochs,
            float learningRate,
            Shape... inputShapes)
            throws Exception {
        try (Model model = Model.newInstance("sigmoid-training-test")) {
            model.setBlock(net);
            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(learningRate))
                                            .build());
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(inputShapes);
                double before = validationLoss(trainer, validation);
                EasyTrain.fit(trainer, epochs, train, null);
                double after = validationLoss(trainer, validation);
                return new double[] {before, after};
            }
        }
    }

    private static double validationLoss(Trainer trainer, ArrayDataset validation)
            throws Exception {
        double sum = 0;
        int batches = 0;
        for (Batch batch : trainer.iterateDataset(validation)) {
            NDList logits = trainer.evaluate(batch.getData());
            NDArray loss = trainer.getLoss().evaluate(batch.getLabels(), logits);
            sum += loss.getFloat();
            batches++;
            batch.close();
        }
        return sum / batches;
    }
}
