package dev.steer4j;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The layers of docs/ARCHITECTURE.md, bottom to top: a package may use only the layers below it (and its own),
 * so no lower package imports a higher one and no two packages form a circle. {@code hooks} and {@code generate}
 * are siblings over {@code model}: neither uses the other.
 */
class ArchitectureTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importMain() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.steer4j");
    }

    @Test
    void lowerLayersNeverUseHigherOnes() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("base").definedBy("dev.steer4j", "dev.steer4j.safetensors..", "dev.steer4j.tokenizer..",
                        "dev.steer4j.profile..")
                .layer("runtime").definedBy("dev.steer4j.runtime..")
                .layer("model").definedBy("dev.steer4j.model..")
                .layer("hooks").definedBy("dev.steer4j.hooks..")
                .layer("generate").definedBy("dev.steer4j.generate..")
                .layer("steering").definedBy("dev.steer4j.steering..")
                .layer("export").definedBy("dev.steer4j.export..")
                .layer("request").definedBy("dev.steer4j.request..")
                .layer("engine").definedBy("dev.steer4j.engine..")
                .layer("session").definedBy("dev.steer4j.session..")
                .layer("batch").definedBy("dev.steer4j.batch..")
                .layer("bench").definedBy("dev.steer4j.bench..")
                .layer("spark").definedBy("dev.steer4j.spark..")
                .layer("cli").definedBy("dev.steer4j.cli..")
                .whereLayer("base").mayOnlyAccessLayers("base")
                .whereLayer("runtime").mayOnlyAccessLayers("base")
                .whereLayer("model").mayOnlyAccessLayers("base", "runtime")
                .whereLayer("hooks").mayOnlyAccessLayers("base", "runtime", "model")
                .whereLayer("generate").mayOnlyAccessLayers("base", "runtime", "model")
                .whereLayer("steering").mayOnlyAccessLayers("base", "runtime", "model", "hooks", "generate")
                .whereLayer("export").mayOnlyAccessLayers("base", "runtime", "model", "hooks")
                .whereLayer("request").mayOnlyAccessLayers("base", "runtime", "model", "hooks", "generate", "steering")
                .whereLayer("engine").mayOnlyAccessLayers("base", "runtime", "model", "hooks", "generate", "request")
                .whereLayer("session").mayOnlyAccessLayers("base", "runtime", "model", "hooks", "generate", "steering",
                        "request", "engine")
                .whereLayer("batch").mayOnlyAccessLayers("base", "runtime", "model", "generate", "steering", "request",
                        "engine", "session")
                .whereLayer("bench").mayOnlyAccessLayers("base", "runtime", "model", "hooks", "generate", "steering",
                        "request", "session")
                .whereLayer("spark").mayOnlyAccessLayers("base", "runtime", "model", "generate", "steering", "request",
                        "engine", "session")
                .check(classes);
    }

    @Test
    void packagesFormNoCircle() {
        slices().matching("dev.steer4j.(**)").should().beFreeOfCycles().check(classes);
    }
}
