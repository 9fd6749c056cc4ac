package io.github.sigmoidattention.examples;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;

import java.util.Locale;
import java.util.Random;

/**
 * The project's first run: builds a small causal transformer whose attention is {@code
 * SigmoidMultiHeadAttention} ({@code b = -ln n}, QK-norm, RoPE), trains it briefly on Tiny
 * Shakespeare with DJL's training API, and prints the loss before and after and a text sample.
 *
 * <p>Flags: {@code --steps 300 --batch 16 --seq 64 --embed 64 --heads 4 --layers 2 --seed 1}.
 */
public final class EncoderDemo {

    private static final Logger logger = LoggerFactory.getLogger(EncoderDemo.class);

    private EncoderDemo() {}

    /**
     * Runs the demo.
     *
     * @param args flags, see the class comment
     * @throws IOException if the training data cannot be batched
     * @throws TranslateException if training fails
     */
    public static void main(String[] args) throws IOException, TranslateException {
        Result result = run(Flags.parse(args));
        System.out.printf(
                Locale.ROOT,
                "%nSigmoid attention (b = -ln %d, QK-norm, RoPE): %d steps of %d x %d characters"
                        + " in %.1f s%n",
                result.flags.seq,
                result.flags.steps,
                result.flags.batch,
                result.flags.seq,
                result.trainSeconds);
        System.out.printf(
                Locale.ROOT,
                "validation loss: %.3f before training, %.3f after (uniform guess: %.3f)%n",
                result.lossBefore,
                result.lossAfter,
                result.uniformLoss);
        System.out.println("sample:\n" + result.sample);
    }

    /**
     * Builds, trains and samples the model.
     *
     * @param flags the settings
     * @return the losses and the sample
     * @throws IOException if the training data cannot be batched
     * @throws TranslateException if training fails
     */
    public static Result run(Flags flags) throws IOException, TranslateException {
        CharCorpus corpus = CharCorpus.fromResource(CharCorpus.TINY_SHAKESPEARE);
        int vocabulary = corpus.vocabularySize();
        int[] ids = corpus.ids();
        // The last tenth of the text is held out for the validation loss.
        int split = ids.length - ids.length / 10;
        Random random = new Random(flags.seed);

        Block net =
                TinyCausalTransformer.build(
                        vocabulary, flags.embed, flags.heads, flags.layers, flags.seq);
        try (Model model = Model.newInstance("sigmoid-encoder-demo");
                NDManager manager = NDManager.newBaseManager()) {
            model.setBlock(net);
            manager.getEngine().setRandomSeed(flags.seed);
            ArrayDataset train =
                    windows(manager, ids, 0, split, flags.steps * flags.batch, flags, random);
            Batch validation =
                    windows(manager, ids, split, ids.length, 4 * flags.batch, flags, random)
                            .getData(manager)
                            .iterator()
                            .next();

            DefaultTrainingConfig config =
                    new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(Tracker.fixed(3e-3f))
                                            .build())
                            .addTrainingListeners(TrainingListener.Defaults.basic());
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(flags.batch, flags.seq));
                long parameters =
                        net.getParameters().values().stream()
                                .mapToLong(p -> p.getArray().size())
                                .sum();
                logger.info(
                        "Model: {} layers, E={}, H={}, vocabulary {}, {} parameters",
                        flags.layers,
                        flags.embed,
                        flags.heads,
                        vocabulary,
                        parameters);
                Result result = new Result();
                result.flags = flags;
                result.uniformLoss = Math.log(vocabulary);
                result.lossBefore = validationLoss(trainer, validation);
                long start = System.nanoTime();
                EasyTrain.fit(trainer, 1, train, null);
                result.trainSeconds = (System.nanoTime() - start) / 1e9;
                result.lossAfter = validationLoss(trainer, validation);
                result.sample = sample(trainer, corpus, "ROMEO:\n", 160, flags, random);
                return result;
            }
        }
    }

    /** What one run measured. */
    public static final class Result {
        Flags flags;
        /** Validation cross-entropy (nats per character) before training. */
        public double lossBefore;
        /** Validation cross-entropy after training. */
        public double lossAfter;
        /** The cross-entropy of a uniform guess, ln V. */
        public double uniformLoss;
        /** Wall time of the training loop. */
        public double trainSeconds;
        /** Text sampled from the trained model after the prompt "ROMEO:". */
        public String sample;
    }

    /** Random windows of {@code seq + 1} characters: inputs and next-character labels. */
    private static ArrayDataset windows(
            NDManager manager, int[] ids, int from, int to, int count, Flags flags, Random random) {
        int t = flags.seq;
        int[] data = new int[count * t];
        int[] labels = new int[count * t];
        for (int n = 0; n < count; n++) {
            int start = from + random.nextInt(to - from - t - 1);
            System.arraycopy(ids, start, data, n * t, t);
            System.arraycopy(ids, start + 1, labels, n * t, t);
        }
        return new ArrayDataset.Builder()
                .setData(manager.create(data, new Shape(count, t)))
                .optLabels(manager.create(labels, new Shape(count, t, 1)))
                .setSampling(flags.batch, true)
                .build();
    }

    private static double validationLoss(Trainer trainer, Batch batch) {
        NDList logits = trainer.evaluate(batch.getData());
        NDArray loss = trainer.getLoss().evaluate(batch.getLabels(), logits);
        double value = loss.getFloat();
        logits.close();
        loss.close();
        return value;
    }

    /** Samples characters one at a time from the model's softmax, re-reading the context each time. */
    private static String sample(
            Trainer trainer, CharCorpus corpus, String prompt, int length, Flags flags, Random random) {
        StringBuilder text = new StringBuilder(prompt);
        Block net = trainer.getModel().getBlock();
        ParameterStore ps = new ParameterStore(trainer.getManager(), false);
        for (int i = 0; i < length; i++) {
            try (NDManager scope = trainer.getManager().newSubManager()) {
                String context = text.substring(Math.max(0, text.length() - flags.seq));
                int[] ids = corpus.encode(context);
                NDArray input = scope.create(ids, new Shape(1, ids.length));
                NDArray logits = net.forward(ps, new NDList(input), false).singletonOrThrow();
                float[] probs =
                        logits.get(new NDIndex(0, ids.length - 1))
                                .toType(DataType.FLOAT32, false)
                                .softmax(0)
                                .toFloatArray();
                double u = random.nextDouble();
                int next = probs.length - 1;
                for (int c = 0; c < probs.length; c++) {
                    u -= probs[c];
                    if (u <= 0) {
                        next = c;
                        break;
                    }
                }
                text.append(corpus.decode(next));
            }
        }
        return text.toString();
    }

    /** Command-line flags, with defaults that finish in well under a minute on 2 cores. */
    public static final class Flags {
        int steps = 300;
        int batch = 16;
        int seq = 64;
        int embed = 64;
        int heads = 4;
        int layers = 2;
        int seed = 1;

        /**
         * Parses {@code --name value} pairs.
         *
         * @param args the command line
         * @return the flags
         */
        public static Flags parse(String[] args) {
            Flags f = new Flags();
            for (int i = 0; i < args.length; i += 2) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("flag " + args[i] + " needs a value");
                }
                int value = Integer.parseInt(args[i + 1]);
                switch (args[i]) {
                    case "--steps":
                        f.steps = value;
                        break;
                    case "--batch":
                        f.batch = value;
                        break;
                    case "--seq":
                        f.seq = value;
                        break;
                    case "--embed":
                        f.embed = value;
                        break;
                    case "--heads":
                        f.heads = value;
                        break;
                    case "--layers":
                        f.layers = value;
                        break;
                    case "--seed":
                        f.seed = value;
                        break;
                    default:
                        throw new IllegalArgumentException(
                                "unknown flag "
                                        + args[i]
                                        + " (known: --steps --batch --seq --embed --heads --layers"
                                        + " --seed)");
                }
            }
            return f;
        }
    }
}
