package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.NoopTranslator;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/**
 * A TorchScript module saved by PyTorch 2.11 that calls {@code torch.ops.flash_sigmoid.forward}
 * runs in DJL's libtorch 2.7.1 once the library is loaded: the op resolves by name.
 */
class TorchScriptTest {

    @Test
    void scriptedModuleCallingTheOpRunsInDjl() throws Exception {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        Criteria<NDList, NDList> criteria =
                Criteria.builder()
                        .setTypes(NDList.class, NDList.class)
                        .optEngine("PyTorch")
                        .optModelPath(modelDir())
                        .optModelName("flash_sigmoid_module")
                        .optTranslator(new NoopTranslator())
                        .build();
        try (ZooModel<NDList, NDList> model = criteria.loadModel();
                Predictor<NDList, NDList> predictor = model.newPredictor();
                NDManager m = NDManager.newBaseManager()) {
            // The scripted module is DJL's PtSymbolBlock, the block DJL runs TorchScript with.
            assertTrue(
                    model.getBlock() instanceof PtSymbolBlock,
                    model.getBlock().getClass().getName());
            NDArray q = m.randomNormal(new Shape(2, 9, 4, 64));
            NDArray k = m.randomNormal(new Shape(2, 13, 2, 64));
            NDArray v = m.randomNormal(new Shape(2, 13, 2, 64));
            NDArray scripted = predictor.predict(new NDList(q, k, v)).singletonOrThrow();
            NDArray direct = FlashSigmoid.forward(q, k, v, 0.125f, -2f, true);
            assertEquals(direct.getShape(), scripted.getShape());
            assertEquals(0f, scripted.sub(direct).abs().max().getFloat());
        }
    }

    private static Path modelDir() throws URISyntaxException {
        return Paths.get(
                        TorchScriptTest.class
                                .getResource("/torchscript/flash_sigmoid_module.pt")
                                .toURI())
                .getParent();
    }
}
