package io.github.sigmoidattention.examples.serving;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** The jars of a serving package, made from the classes this program runs with, and its zip. */
final class PackageJars {

    private PackageJars() {}

    /**
     * Writes one jar with every class and resource of the jars or class folders that hold the given
     * classes (the project's modules, not their dependencies: DJL Serving has DJL).
     */
    static void writeModelJar(Path jar, Class<?>... anchors) throws IOException {
        Set<String> written = new HashSet<>();
        try (JarOutputStream out = open(jar)) {
            for (Class<?> anchor : anchors) {
                Path source = codeSource(anchor);
                if (Files.isDirectory(source)) {
                    List<Path> files;
                    try (Stream<Path> walk = Files.walk(source)) {
                        files = walk.filter(Files::isRegularFile).sorted().toList();
                    }
                    for (Path file : files) {
                        String name = source.relativize(file).toString().replace('\\', '/');
                        try (InputStream in = Files.newInputStream(file)) {
                            copy(out, name, in, written);
                        }
                    }
                } else {
                    try (JarFile from = new JarFile(source.toFile())) {
                        for (JarEntry e : java.util.Collections.list(from.entries())) {
                            if (!e.isDirectory()) {
                                try (InputStream in = from.getInputStream(e)) {
                                    copy(out, e.getName(), in, written);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** Writes a jar holding one class file. */
    static void writeClassJar(Path jar, Class<?> type) throws IOException {
        String name = type.getName().replace('.', '/') + ".class";
        try (JarOutputStream out = open(jar);
                InputStream in = type.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("no class file " + name + " next to " + type);
            }
            copy(out, name, in, new HashSet<>());
        }
    }

    /** Writes a zip of everything under {@code dir}, names relative to it, and returns the zip. */
    static Path zipDirectory(Path dir, Path zip) throws IOException {
        List<Path> files;
        try (Stream<Path> walk = Files.walk(dir)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        }
        try (ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(zip))) {
            for (Path file : files) {
                out.putNextEntry(new ZipEntry(dir.relativize(file).toString().replace('\\', '/')));
                Files.copy(file, out);
                out.closeEntry();
            }
        }
        return zip;
    }

    private static JarOutputStream open(Path jar) throws IOException {
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        OutputStream file = Files.newOutputStream(jar);
        return new JarOutputStream(file, manifest);
    }

    private static void copy(JarOutputStream out, String name, InputStream in, Set<String> written)
            throws IOException {
        // Each module's manifest and signatures stay behind; a name seen already is skipped.
        if (name.equalsIgnoreCase("META-INF/MANIFEST.MF")
                || name.matches("(?i)META-INF/.*\\.(SF|RSA|DSA)")
                || !written.add(name)) {
            return;
        }
        out.putNextEntry(new JarEntry(name));
        in.transferTo(out);
        out.closeEntry();
    }

    private static Path codeSource(Class<?> type) throws IOException {
        try {
            return Paths.get(type.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IOException("cannot tell where the classes of " + type + " come from", e);
        }
    }
}
