package dev.steer4j;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintWriter;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import javax.tools.DocumentationTool;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The v1 API ({@code dev.steer4j} and {@code dev.steer4j.request}) speaks in its own types: no public signature
 * mentions a JavaCPP or libtorch type, or any of steer4j's internal packages; and its Javadoc builds without a
 * warning (doclint on every public type and member).
 */
class ApiSurfaceTest {
    static final Set<String> API_PACKAGES = Set.of("dev.steer4j", "dev.steer4j.request");

    static List<Class<?>> apiTypes() {
        List<Class<?>> out = new ArrayList<>();
        for (JavaClass c : new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages(API_PACKAGES.toArray(String[]::new))) {
            if (!API_PACKAGES.contains(c.getPackageName())) continue; // subpackages (request.json) are internal
            Class<?> k = c.reflect();
            if (isVisible(k)) out.add(k);
        }
        return out;
    }

    private static boolean isVisible(Class<?> k) {
        for (Class<?> c = k; c != null; c = c.getEnclosingClass()) if (!Modifier.isPublic(c.getModifiers())) return false;
        return !k.isAnonymousClass() && !k.isSynthetic();
    }

    @Test
    void publicSignaturesMentionOnlyTheJdkAndTheApi() {
        List<Class<?>> types = apiTypes();
        assertTrue(types.stream().anyMatch(t -> t == Model.class) && types.stream().anyMatch(t -> t.getSimpleName().equals("Request")),
                "the API's types are found: " + types);
        Set<String> bad = new TreeSet<>();
        for (Class<?> t : types) {
            if (t.getGenericSuperclass() != null) check(t, "extends", t.getGenericSuperclass(), bad);
            for (Type i : t.getGenericInterfaces()) check(t, "implements", i, bad);
            for (Field f : t.getDeclaredFields()) {
                if (Modifier.isPublic(f.getModifiers()) || Modifier.isProtected(f.getModifiers())) check(t, f.getName(), f.getGenericType(), bad);
            }
            List<Executable> members = new ArrayList<>(List.of(t.getDeclaredMethods()));
            members.addAll(List.of(t.getDeclaredConstructors()));
            for (Executable m : members) {
                if (m.isSynthetic() || !(Modifier.isPublic(m.getModifiers()) || Modifier.isProtected(m.getModifiers()))) continue;
                String where = m instanceof Constructor ? "<init>" : m.getName();
                if (m instanceof Method method) check(t, where + " returns", method.getGenericReturnType(), bad);
                for (Type p : m.getGenericParameterTypes()) check(t, where, p, bad);
                for (Type e : m.getGenericExceptionTypes()) check(t, where + " throws", e, bad);
            }
        }
        assertEquals(Set.of(), bad, "public API signatures that mention a native or internal type");
    }

    private static void check(Class<?> owner, String where, Type type, Set<String> bad) {
        if (type instanceof ParameterizedType p) {
            check(owner, where, p.getRawType(), bad);
            for (Type a : p.getActualTypeArguments()) check(owner, where, a, bad);
        } else if (type instanceof GenericArrayType a) {
            check(owner, where, a.getGenericComponentType(), bad);
        } else if (type instanceof WildcardType w) {
            for (Type u : w.getUpperBounds()) check(owner, where, u, bad);
            for (Type l : w.getLowerBounds()) check(owner, where, l, bad);
        } else if (type instanceof TypeVariable<?>) {
            return;
        } else if (type instanceof Class<?> c) {
            while (c.isArray()) c = c.getComponentType();
            if (c.isPrimitive()) return;
            String pkg = c.getPackageName();
            boolean ok = pkg.startsWith("java.") || API_PACKAGES.contains(pkg);
            if (!ok) bad.add(owner.getName() + "." + where + ": " + c.getName());
        }
    }

    @Test
    void javadocOfTheApiBuildsWithoutWarnings(@TempDir Path out) throws Exception {
        List<File> sources = new ArrayList<>();
        for (String pkg : API_PACKAGES) {
            try (Stream<Path> files = Files.list(Path.of("src/main/java", pkg.split("\\.")))) {
                files.filter(f -> f.toString().endsWith(".java")).forEach(f -> sources.add(f.toFile()));
            }
        }
        DocumentationTool javadoc = ToolProvider.getSystemDocumentationTool();
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (PrintWriter w = new PrintWriter(log, true); var files = javadoc.getStandardFileManager(null, null, null)) {
            boolean ok = javadoc.getTask(w, files, null, null,
                    List.of("-Xdoclint:all", "-quiet", "-d", out.toString(), "-classpath", System.getProperty("java.class.path"),
                            "-sourcepath", "src/main/java"),
                    files.getJavaFileObjectsFromFiles(sources)).call();
            String text = log.toString();
            assertTrue(ok, text);
            assertTrue(!text.contains("warning"), text);
        }
    }
}
