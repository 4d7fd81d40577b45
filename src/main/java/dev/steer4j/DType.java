package dev.steer4j;

/** The float type of a model's weights and activations. */
public enum DType {
    /** 32-bit IEEE float. */
    FLOAT32,
    /** 16-bit IEEE float. */
    FLOAT16,
    /** bfloat16. */
    BFLOAT16
}
