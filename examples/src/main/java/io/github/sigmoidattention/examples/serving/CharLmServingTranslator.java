package io.github.sigmoidattention.examples.serving;

import ai.djl.Model;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDList;
import ai.djl.translate.Batchifier;
import ai.djl.translate.ServingTranslator;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import ai.djl.translate.TranslatorFactory;
import java.util.List;
import java.util.Map;

/**
 * The {@code translator=} class of a serving package: DJL Serving 0.36 loads it from the model
 * directory's {@code libs/} folder, the only place where it looks for a translator outside its own
 * class path. The model's classes are loaded by another class loader (DJL takes the block factory
 * from the jars at the top of the model directory), so this class refers to none of them: it makes
 * the real translator, {@link CharLmTranslator}, through {@link CharLmTranslatorFactory} loaded by
 * the block's own class loader, and hands every call to it.
 *
 * <p>It depends on DJL's API only, and its jar holds this class alone.
 */
public final class CharLmServingTranslator implements ServingTranslator {

    /** The factory of the real translator, by name: this class must not load it itself. */
    static final String FACTORY =
            "io.github.sigmoidattention.examples.serving.CharLmTranslatorFactory";

    private Map<String, ?> arguments = Map.of();
    private volatile Translator<Input, Output> delegate;

    @Override
    public void setArguments(Map<String, ?> arguments) {
        this.arguments = arguments;
    }

    @Override
    public void prepare(TranslatorContext ctx) throws Exception {
        delegate(ctx.getModel()).prepare(ctx);
    }

    @Override
    public Batchifier getBatchifier() {
        return Batchifier.STACK; // the real translator's: it takes whole batches
    }

    @Override
    public NDList processInput(TranslatorContext ctx, Input input) throws Exception {
        return delegate(ctx.getModel()).processInput(ctx, input);
    }

    @Override
    public Output processOutput(TranslatorContext ctx, NDList list) throws Exception {
        return delegate(ctx.getModel()).processOutput(ctx, list);
    }

    @Override
    public NDList batchProcessInput(TranslatorContext ctx, List<Input> inputs) throws Exception {
        return delegate(ctx.getModel()).batchProcessInput(ctx, inputs);
    }

    @Override
    public List<Output> batchProcessOutput(TranslatorContext ctx, NDList list) throws Exception {
        return delegate(ctx.getModel()).batchProcessOutput(ctx, list);
    }

    @SuppressWarnings("unchecked")
    private Translator<Input, Output> delegate(Model model) throws TranslateException {
        Translator<Input, Output> d = delegate;
        if (d == null) {
            synchronized (this) {
                d = delegate;
                if (d == null) {
                    if (model.getBlock() == null) {
                        throw new TranslateException(
                                "the model has no block: serving.properties must name"
                                        + " blockFactory=io.github.sigmoidattention.examples"
                                        + ".serving.CharLmBlockFactory");
                    }
                    ClassLoader loader = model.getBlock().getClass().getClassLoader();
                    try {
                        TranslatorFactory factory =
                                (TranslatorFactory)
                                        Class.forName(FACTORY, true, loader)
                                                .getConstructor()
                                                .newInstance();
                        d = factory.newInstance(Input.class, Output.class, model, arguments);
                    } catch (ReflectiveOperationException e) {
                        throw new TranslateException(
                                FACTORY + " is not next to the model's block (" + loader + ")", e);
                    }
                    delegate = d;
                }
            }
        }
        return d;
    }
}
