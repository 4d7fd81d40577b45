package dev.steer4j.safetensors;

/** Element types of the safetensors format, with their on-disk names and sizes. */
public enum DType {
    F64("F64", 8),
    F32("F32", 4),
    F16("F16", 2),
    BF16("BF16", 2),
    I64("I64", 8),
    I32("I32", 4),
    I16("I16", 2),
    I8("I8", 1),
    U8("U8", 1),
    BOOL("BOOL", 1);

    private final String code;
    private final int byteSize;

    DType(String code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** Size of one element in bytes. */
    public int byteSize() {
        return byteSize;
    }

    /** The dtype string used in safetensors headers, e.g. "F32". */
    public String code() {
        return code;
    }

    /** True for the types {@link SafetensorsFile#toFloatArray} can convert. */
    public boolean isFloating() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }

    /** Parses a header dtype string; returns null when unknown. */
    public static DType fromCode(String code) {
        for (DType t : values()) {
            if (t.code.equals(code)) {
                return t;
            }
        }
        return null;
    }
}
