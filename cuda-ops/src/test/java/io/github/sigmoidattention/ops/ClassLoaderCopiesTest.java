package io.github.sigmoidattention.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Two class loaders that each load this module's classes (as DJL Serving does for two models whose
 * directories bring their own jars) both get a working op library: the second loads a copy, since
 * the JVM binds a native library to one class loader.
 */
class ClassLoaderCopiesTest {

    /** Loads this module's classes itself, everything else from its parent. */
    private static final class ChildFirst extends URLClassLoader {
        ChildFirst(URL[] urls, ClassLoader parent) {
            super(urls, parent);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.startsWith("io.github.sigmoidattention.ops.")) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    c = findClass(name);
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }
    }

    @Test
    void eachClassLoaderGetsAWorkingLibrary() throws Exception {
        assertTrue(FlashSigmoidLibrary.isAvailable(), FlashSigmoidLibrary.getUnavailableReason());
        URL classes = NativeLibrary.class.getProtectionDomain().getCodeSource().getLocation();
        Path[] paths = new Path[2];
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray q = manager.randomNormal(new Shape(1, 5, 2, 8));
            NDArray k = manager.randomNormal(new Shape(1, 7, 2, 8));
            NDArray v = manager.randomNormal(new Shape(1, 7, 2, 8));
            float[] expected = FlashSigmoid.forward(q, k, v, 0.35f, -1.9f, true).toFloatArray();
            for (int i = 0; i < 2; i++) {
                paths[i] = checkLoader(classes, q, k, v, expected);
            }
        }
        assertNotEquals(FlashSigmoidLibrary.getLibraryPath(), paths[0], "a copy");
        assertNotEquals(paths[0], paths[1], "a copy each");
    }

    /** Loads this module's classes anew, checks the library there, returns its path. */
    private static Path checkLoader(URL classes, NDArray q, NDArray k, NDArray v, float[] expected)
            throws Exception {
        try (ChildFirst loader =
                new ChildFirst(new URL[] {classes}, ClassLoaderCopiesTest.class.getClassLoader())) {
            Class<?> library = Class.forName(FlashSigmoidLibrary.class.getName(), true, loader);
            assertNotEquals(FlashSigmoidLibrary.class, library, "a class of its own");
            assertEquals(
                    true,
                    library.getMethod("isAvailable").invoke(null),
                    String.valueOf(library.getMethod("getUnavailableReason").invoke(null)));
            // A native method of this loader's copy answers, and the op gives the same output.
            Class<?> bridge = Class.forName(FlashSigmoidNative.class.getName(), true, loader);
            Method isa = bridge.getDeclaredMethod("cpuIsa");
            isa.setAccessible(true);
            assertEquals(FlashSigmoidNative.cpuIsa(), isa.invoke(null));
            Class<?> op = Class.forName(FlashSigmoid.class.getName(), true, loader);
            NDArray out =
                    (NDArray)
                            op.getMethod(
                                            "forward",
                                            NDArray.class,
                                            NDArray.class,
                                            NDArray.class,
                                            float.class,
                                            float.class,
                                            boolean.class)
                                    .invoke(null, q, k, v, 0.35f, -1.9f, true);
            assertArrayEquals(expected, out.toFloatArray());
            return (Path) library.getMethod("getLibraryPath").invoke(null);
        }
    }
}
