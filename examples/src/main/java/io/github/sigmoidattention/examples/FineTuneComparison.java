package io.github.sigmoidattention.examples;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import io.github.sigmoidattention.examples.lm.AttentionVariant;
import io.github.sigmoidattention.examples.lm.CharLanguageModel;
import io.github.sigmoidattention.examples.lm.LanguageModelConfig;
import io.github.sigmoidattention.examples.lm.LossChart;
import io.github.sigmoidattention.examples.lm.TextGenerator;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Random;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains the same character-level language model on Tiny Shakespeare with softmax attention and
 * with sigmoid attention variants, on identical data in identical order, and writes the loss curves
 * (CSV and PNG), a generated sample per model, the trained models and a summary.
 *
 * <pre>
 * mvn -q -DskipTests package exec:exec                       # the defaults: a few minutes on 2 cores
 * mvn -q exec:exec -Dexample.args="--steps 1000 --embed 128 --layers 4 --out target/finetune-large"
 * </pre>
 */
public final class FineTuneComparison {

    private static final Logger logger = LoggerFactory.getLogger(FineTuneComparison.class);

    /** The name of the saved models' parameter files (DJL appends the epoch). */
    public static final String MODEL_NAME = "char-lm";

    private FineTuneComparison() {}

    /**
     * Runs the comparison.
     *
     * @param args flags, see {@link Flags}
     * @throws IOException if an output cannot be written
     * @throws TranslateException if training fails
     */
    public static void main(String[] args) throws IOException, TranslateException {
        Flags flags = Flags.parse(args);
        List<Run> runs = run(flags);
        Run baseline = runs.get(0);
        logger.info("Final validation loss (nats per character), {} steps:", flags.steps);
        for (Run r : runs) {
            logger.info(
                    "  {}: {} ({} vs {}), {} tokens/s",
                    String.format(Locale.ROOT, "%-32s", r.variant.label()),
                    String.format(Locale.ROOT, "%.4f", r.finalValidationLoss()),
                    String.format(
                            Locale.ROOT,
                            "%+.1f%%",
                            100 * (r.finalValidationLoss() / baseline.finalValidationLoss() - 1)),
                    baseline.variant.label(),
                    String.format(Locale.ROOT, "%.0f", r.tokensPerSecond));
        }
        logger.info("Outputs in {}", flags.out.toAbsolutePath());
        if (flags.report) {
            BenchmarkReport.writeSection(
                    BenchmarkReport.defaultFile(),
                    "finetune-" + flags.reportName,
                    FineTuneOutputs.summary(flags, runs));
        }
    }

    /** What training one variant produced. */
    public static final class Run {
        AttentionVariant variant;

        /** Training loss of every step. */
        final List<Double> trainLoss = new ArrayList<>();

        /** (step, validation loss) at every evaluation. */
        final List<double[]> validationLoss = new ArrayList<>();

        double tokensPerSecond;
        int vocabularySize;
        String sample;
        Path modelDir;

        /**
         * Returns the variant trained.
         *
         * @return the variant
         */
        public AttentionVariant variant() {
            return variant;
        }

        /**
         * Returns the training loss of every step.
         *
         * @return one value per step
         */
        public List<Double> trainLoss() {
            return trainLoss;
        }

        /**
         * Returns the validation losses as (step, loss) pairs.
         *
         * @return the evaluations, step 0 (before training) first
         */
        public List<double[]> validationLoss() {
            return validationLoss;
        }

        /**
         * Returns the text generated after training.
         *
         * @return the prompt and its continuation
         */
        public String sample() {
            return sample;
        }

        /**
         * Returns the validation loss after the last step.
         *
         * @return nats per character
         */
        public double finalValidationLoss() {
            return validationLoss.get(validationLoss.size() - 1)[1];
        }

        /**
         * Returns the validation loss at the first evaluation (step 0, before training).
         *
         * @return nats per character
         */
        public double initialValidationLoss() {
            return validationLoss.get(0)[1];
        }

        /**
         * Returns the directory of the saved model.
         *
         * @return the directory
         */
        public Path modelDir() {
            return modelDir;
        }
    }

    /**
     * Trains every requested variant and writes the outputs.
     *
     * @param flags the settings
     * @return one run per variant, in the order asked (the first is the baseline of the ratios)
     * @throws IOException if an output cannot be written
     * @throws TranslateException if training fails
     */
    public static List<Run> run(Flags flags) throws IOException, TranslateException {
        CharCorpus corpus = CharCorpus.fromResource(CharCorpus.TINY_SHAKESPEARE);
        Files.createDirectories(flags.out);
        List<Run> runs = new ArrayList<>();
        for (AttentionVariant variant : flags.variants) {
            runs.add(train(flags, corpus, variant));
            // After every variant, so that a long run cut short keeps the variants it finished.
            FineTuneOutputs.writeCsv(flags.out.resolve("losses.csv"), runs);
            writeChart(flags, runs);
            FineTuneOutputs.writeSamples(flags.out.resolve("samples.txt"), runs);
            Files.writeString(
                    flags.out.resolve("summary.md"), FineTuneOutputs.summary(flags, runs));
        }
        return runs;
    }

    private static void writeChart(Flags flags, List<Run> runs) throws IOException {
        List<LossChart.Curve> curves = new ArrayList<>();
        for (Run r : runs) {
            curves.add(new LossChart.Curve(r.variant.label(), r.trainLoss, r.validationLoss));
        }
        Path png = flags.out.resolve("losses.png");
        try {
            LossChart.write(png, curves, flags.steps);
        } catch (LinkageError e) {
            // A Java runtime without the system's font libraries (the GPU machine) renders no text.
            logger.warn(
                    "cannot draw {} on this machine ({}); draw it from losses.csv elsewhere:"
                            + " mvn -q exec:exec -Dexample.main={} -Dexample.args=\"losses.csv"
                            + " losses.png\"",
                    png,
                    e.toString(),
                    LossChart.class.getName());
        }
    }

    private static Run train(Flags flags, CharCorpus corpus, AttentionVariant variant)
            throws IOException, TranslateException {
        int[] ids = corpus.ids();
        int split = ids.length - ids.length / 10; // the last tenth is held out
        // The same seed for every variant: the same windows in the same order.
        Random data = new Random(flags.seed);
        LanguageModelConfig config =
                new LanguageModelConfig(
                        variant,
                        corpus.vocabularySize(),
                        flags.embed,
                        flags.heads,
                        flags.layers,
                        flags.seq);
        Run run = new Run();
        run.variant = variant;
        run.vocabularySize = corpus.vocabularySize();
        Device device = flags.device();
        try (Model model = Model.newInstance(MODEL_NAME, device);
                NDManager manager = NDManager.newBaseManager(device)) {
            Engine.getEngine("PyTorch").setRandomSeed(flags.seed);
            model.setBlock(new CharLanguageModel(config, flags.computeType, flags.dropout));
            List<NDList[]> validation = new ArrayList<>();
            for (int i = 0; i < flags.validationBatches; i++) {
                validation.add(
                        windowArrays(manager, ids, split, ids.length, flags.batch, flags, data));
            }
            TrainingListener recorder =
                    new TrainingListenerAdapter() {
                        @Override
                        public void onTrainingBatch(Trainer trainer, BatchData batchData) {
                            NDList labels = batchData.getLabels().values().iterator().next();
                            NDList predictions =
                                    batchData.getPredictions().values().iterator().next();
                            try (NDArray loss = trainer.getLoss().evaluate(labels, predictions)) {
                                run.trainLoss.add((double) loss.getFloat());
                            }
                        }
                    };
            DefaultTrainingConfig trainingConfig =
                    new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                            .optDevices(new Device[] {device})
                            .optOptimizer(
                                    Optimizer.adam()
                                            .optLearningRateTracker(flags.learningRateTracker())
                                            .build())
                            .addTrainingListeners(TrainingListener.Defaults.logging())
                            .addTrainingListeners(recorder);
            try (Trainer trainer = model.newTrainer(trainingConfig)) {
                trainer.initialize(new Shape(flags.batch, flags.seq));
                logger.info(
                        "{}: {} layers, E={}, H={}, n={}, V={}, {} parameters",
                        variant.label(),
                        flags.layers,
                        flags.embed,
                        flags.heads,
                        flags.seq,
                        corpus.vocabularySize(),
                        model.getBlock().getParameters().values().stream()
                                .mapToLong(p -> p.getArray().size())
                                .sum());
                run.validationLoss.add(new double[] {0, validationLoss(trainer, validation)});
                long nanos = 0;
                for (int done = 0; done < flags.steps; ) {
                    int steps = Math.min(flags.evalEvery, flags.steps - done);
                    try (NDManager sliceManager = manager.newSubManager()) {
                        ArrayDataset slice =
                                windows(
                                        sliceManager,
                                        ids,
                                        0,
                                        split,
                                        steps * flags.batch,
                                        flags,
                                        data);
                        long start = System.nanoTime();
                        // One "epoch" per evaluation interval.
                        EasyTrain.fit(trainer, 1, slice, null);
                        nanos += System.nanoTime() - start;
                    }
                    done += steps;
                    run.validationLoss.add(
                            new double[] {done, validationLoss(trainer, validation)});
                }
                run.tokensPerSecond =
                        (double) flags.steps * flags.batch * flags.seq / (nanos / 1e9);
                TextGenerator generator = new TextGenerator(model.getBlock(), corpus, flags.seq);
                run.sample =
                        generator.generate(
                                manager, "ROMEO:\n", flags.sampleLength, new Random(flags.seed));
            }
            run.modelDir =
                    flags.out.resolve("models").resolve(variant.name().toLowerCase(Locale.ROOT));
            saveModel(model, config, corpus, run.modelDir);
        }
        return run;
    }

    /**
     * Saves a trained model: its parameters, its vocabulary and its configuration, which {@link
     * io.github.sigmoidattention.examples.serving.ServingPackage} turns into a DJL Serving model.
     *
     * @param model the trained model
     * @param config its configuration
     * @param corpus its vocabulary
     * @param dir the directory to write
     * @throws IOException if a file cannot be written
     */
    static void saveModel(Model model, LanguageModelConfig config, CharCorpus corpus, Path dir)
            throws IOException {
        Files.createDirectories(dir);
        model.save(dir, MODEL_NAME);
        Files.writeString(
                dir.resolve("vocabulary.txt"), corpus.vocabulary(), StandardCharsets.UTF_8);
        Properties properties = new Properties();
        properties.putAll(config.toArguments());
        try (Writer w = Files.newBufferedWriter(dir.resolve("model.properties"))) {
            properties.store(w, "CharLanguageModel configuration");
        }
    }

    /**
     * Random windows of n + 1 characters of ids[from, to): inputs (count, n) and next-character
     * labels (count, n, 1) (the extra axis: see the README on DJL's pick).
     */
    private static NDList[] windowArrays(
            NDManager manager, int[] ids, int from, int to, int count, Flags flags, Random random) {
        int t = flags.seq;
        int[] inputs = new int[count * t];
        int[] labels = new int[count * t];
        for (int n = 0; n < count; n++) {
            int start = from + random.nextInt(to - from - t - 1);
            System.arraycopy(ids, start, inputs, n * t, t);
            System.arraycopy(ids, start + 1, labels, n * t, t);
        }
        return new NDList[] {
            new NDList(manager.create(inputs, new Shape(count, t))),
            new NDList(manager.create(labels, new Shape(count, t, 1)))
        };
    }

    private static ArrayDataset windows(
            NDManager manager, int[] ids, int from, int to, int count, Flags flags, Random random) {
        NDList[] arrays = windowArrays(manager, ids, from, to, count, flags, random);
        return new ArrayDataset.Builder()
                .setData(arrays[0].head())
                .optLabels(arrays[1].head())
                .setSampling(flags.batch, false)
                .build();
    }

    private static double validationLoss(Trainer trainer, List<NDList[]> batches) {
        double sum = 0;
        for (NDList[] batch : batches) {
            // Each forward's intermediates go to a scope closed after it (on a GPU they would
            // otherwise stay until the model closes).
            try (NDManager scope = NDManager.subManagerOf(batch[0].head())) {
                batch[0].tempAttach(scope);
                batch[1].tempAttach(scope);
                NDList logits = trainer.evaluate(batch[0]);
                sum += trainer.getLoss().evaluate(batch[1], logits).getFloat();
            }
        }
        return sum / batches.size();
    }

    /** Command-line flags; the defaults finish in a few minutes on 2 CPU cores. */
    public static final class Flags {
        int steps = 300;
        int evalEvery = 50;
        int batch = 32;
        int seq = 64;
        int embed = 64;
        int heads = 4;
        int layers = 2;
        int seed = 1;
        int validationBatches = 8;
        int sampleLength = 200;
        float learningRate = 3e-3f;
        int warmup;
        float dropout;
        String device = "cpu";
        DataType computeType;
        Path out = Paths.get("target", "finetune");
        List<AttentionVariant> variants = Arrays.asList(AttentionVariant.values());
        boolean report;
        String reportName = "default";
        String[] commandLine = new String[0];

        /**
         * Parses {@code --name value} pairs.
         *
         * @param args the command line
         * @return the flags
         */
        public static Flags parse(String[] args) {
            Flags f = new Flags();
            f.commandLine = args.clone();
            for (int i = 0; i < args.length; i += 2) {
                String name = args[i];
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("flag " + name + " needs a value");
                }
                String value = args[i + 1];
                switch (name) {
                    case "--steps" -> f.steps = positive(name, value);
                    case "--eval-every" -> f.evalEvery = positive(name, value);
                    case "--batch" -> f.batch = positive(name, value);
                    case "--seq" -> f.seq = positive(name, value);
                    case "--embed" -> f.embed = positive(name, value);
                    case "--heads" -> f.heads = positive(name, value);
                    case "--layers" -> f.layers = positive(name, value);
                    case "--seed" -> f.seed = Integer.parseInt(value);
                    case "--validation-batches" -> f.validationBatches = positive(name, value);
                    case "--sample-length" -> f.sampleLength = Integer.parseInt(value);
                    case "--lr" -> f.learningRate = Float.parseFloat(value);
                    case "--warmup" -> f.warmup = nonNegative(name, value);
                    case "--dropout" -> f.dropout = rate(name, value);
                    case "--device" -> f.device = value;
                    case "--compute-type" -> f.computeType = computeType(value);
                    case "--out" -> f.out = Paths.get(value);
                    case "--report" -> {
                        f.report = true;
                        f.reportName = value;
                    }
                    case "--variants" -> {
                        List<AttentionVariant> list = new ArrayList<>();
                        for (String v : value.split(",")) {
                            list.add(AttentionVariant.valueOf(v.trim().toUpperCase(Locale.ROOT)));
                        }
                        f.variants = list;
                    }
                    default ->
                            throw new IllegalArgumentException(
                                    "unknown flag "
                                            + name
                                            + " (known: --steps --eval-every --batch --seq --embed"
                                            + " --heads --layers --seed --validation-batches --sample-length --lr"
                                            + " --warmup --dropout --device --compute-type --out"
                                            + " --variants --report)");
                }
            }
            return f;
        }

        private static DataType computeType(String value) {
            return switch (value) {
                case "bf16", "bfloat16" -> DataType.BFLOAT16;
                case "fp16", "float16" -> DataType.FLOAT16;
                case "fp32", "float32" -> DataType.FLOAT32;
                default ->
                        throw new IllegalArgumentException(
                                "--compute-type: expected bf16, fp16 or fp32, got " + value);
            };
        }

        private static int nonNegative(String name, String value) {
            int v = Integer.parseInt(value);
            if (v < 0) {
                throw new IllegalArgumentException(name + ": must be 0 or more, got " + v);
            }
            return v;
        }

        private static float rate(String name, String value) {
            float v = Float.parseFloat(value);
            if (!(v >= 0f && v < 1f)) {
                throw new IllegalArgumentException(name + ": expected a rate in [0, 1), got " + v);
            }
            return v;
        }

        /**
         * The learning rate: fixed, or with {@code --warmup} a linear warm-up over that many steps
         * followed by a cosine decay to a tenth of {@code --lr} at the last step.
         */
        Tracker learningRateTracker() {
            if (warmup == 0) {
                return Tracker.fixed(learningRate);
            }
            if (warmup >= steps) {
                throw new IllegalArgumentException(
                        "--warmup: must be fewer than --steps (" + steps + "), got " + warmup);
            }
            return Tracker.warmUp()
                    .optWarmUpBeginValue(learningRate / warmup)
                    .optWarmUpSteps(warmup)
                    .setMainTracker(
                            Tracker.cosine()
                                    .setBaseValue(learningRate)
                                    .optFinalValue(learningRate / 10)
                                    .setMaxUpdates(steps - warmup)
                                    .build())
                    .build();
        }

        private static int positive(String name, String value) {
            int v = Integer.parseInt(value);
            if (v <= 0) {
                throw new IllegalArgumentException(name + ": must be positive, got " + v);
            }
            return v;
        }

        Device device() {
            // "gpu(0)", as Device prints itself, and DJL's own names ("cpu", "gpu0", "gpu").
            java.util.regex.Matcher gpu =
                    java.util.regex.Pattern.compile("gpu\\((\\d+)\\)").matcher(device);
            if (gpu.matches()) {
                return Device.gpu(Integer.parseInt(gpu.group(1)));
            }
            return "cpu".equals(device) ? Device.cpu() : Device.fromName(device);
        }

        String describe() {
            return String.format(
                    Locale.ROOT,
                    "%d layers, E=%d, H=%d, n=%d, batch %d, %d steps, Adam %.0e%s",
                    layers,
                    embed,
                    heads,
                    seq,
                    batch,
                    steps,
                    learningRate,
                    (warmup == 0 ? "" : " (" + warmup + " warm-up steps, cosine to a tenth)")
                            + (dropout == 0f ? "" : ", dropout " + dropout)
                            + ("cpu".equals(device) ? "" : ", on " + device)
                            + (computeType == null ? "" : ", sigmoid core in " + computeType));
        }
    }
}
