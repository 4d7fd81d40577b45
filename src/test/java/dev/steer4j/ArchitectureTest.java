package dev.steer4j;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The layers of docs/ARCHITECTURE.md, bottom to top: a package may use only the layers below it (and its own),
 * so no lower package imports a higher one and no two packages form a circle. {@code hooks} and {@code generate}
 * are siblings over {@code model}: neither uses the other. The API ({@code dev.steer4j}) sits on the session; its
 * exceptions are the bottom layer, which every layer throws.
 */
class ArchitectureTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importMain() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.steer4j");
    }

    /** steer4j's exceptions: in the API package, and used by every layer (the bottom one). */
    static final DescribedPredicate<JavaClass> EXCEPTIONS = JavaClass.Predicates.assignableTo(Steer4jException.class);

    @Test
    void lowerLayersNeverUseHigherOnes() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("base").definedBy(EXCEPTIONS.or(resideInAnyPackage("dev.steer4j.io..", "dev.steer4j.safetensors..",
                        "dev.steer4j.tokenizer..", "dev.steer4j.profile..")))
                .layer("runtime").definedBy("dev.steer4j.runtime..")
                .layer("request").definedBy("dev.steer4j.request")
                .layer("model").definedBy("dev.steer4j.model..")
                .layer("hooks").definedBy("dev.steer4j.hooks..")
                .layer("generate").definedBy("dev.steer4j.generate..")
                .layer("steering").definedBy("dev.steer4j.steering..")
                .layer("export").definedBy("dev.steer4j.export..")
                .layer("request.json").definedBy("dev.steer4j.request.json..")
                .layer("engine").definedBy("dev.steer4j.engine..")
                .layer("session").definedBy("dev.steer4j.session..")
                .layer("api").definedBy(resideInAPackage("dev.steer4j").and(DescribedPredicate.not(EXCEPTIONS)))
                .layer("batch").definedBy("dev.steer4j.batch..")
                .layer("bench").definedBy("dev.steer4j.bench..")
                .layer("spark").definedBy("dev.steer4j.spark..")
                .layer("metrics").definedBy("dev.steer4j.metrics..")
                .layer("sweep").definedBy("dev.steer4j.sweep..")
                .layer("server").definedBy("dev.steer4j.server..")
                .layer("langchain4j").definedBy("dev.steer4j.langchain4j..")
                .layer("cli").definedBy("dev.steer4j.cli..")
                .whereLayer("base").mayOnlyAccessLayers("base")
                .whereLayer("runtime").mayOnlyAccessLayers("base")
                .whereLayer("request").mayOnlyAccessLayers("base")
                .whereLayer("model").mayOnlyAccessLayers("base", "runtime", "request")
                .whereLayer("hooks").mayOnlyAccessLayers("base", "runtime", "request", "model")
                .whereLayer("generate").mayOnlyAccessLayers("base", "runtime", "request", "model")
                .whereLayer("steering").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate")
                .whereLayer("export").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks")
                .whereLayer("request.json").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate",
                        "steering")
                .whereLayer("engine").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate")
                .whereLayer("session").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate",
                        "steering", "engine")
                .whereLayer("api").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate",
                        "steering", "engine", "session")
                .whereLayer("batch").mayOnlyAccessLayers("base", "runtime", "request", "steering", "request.json", "api")
                .whereLayer("bench").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate",
                        "steering", "engine", "session")
                .whereLayer("spark").mayOnlyAccessLayers("base", "request", "steering", "request.json", "api")
                .whereLayer("metrics").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate",
                        "steering", "engine", "session", "api")
                .whereLayer("sweep").mayOnlyAccessLayers("base", "runtime", "request", "model", "hooks", "generate",
                        "steering", "engine", "session", "api", "metrics")
                // the server and the langchain4j provider sit on the public API (and vector files, by name)
                .whereLayer("server").mayOnlyAccessLayers("base", "request", "steering", "api")
                .whereLayer("langchain4j").mayOnlyAccessLayers("base", "request", "api")
                .check(classes);
    }

    @Test
    void packagesFormNoCircle() {
        slices().matching("dev.steer4j.(**)").should().beFreeOfCycles().check(classes);
    }
}
