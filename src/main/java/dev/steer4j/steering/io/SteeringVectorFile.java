package dev.steer4j.steering.io;

import dev.steer4j.InvalidInputException;
import dev.steer4j.safetensors.DType;
import dev.steer4j.safetensors.SafetensorsException;
import dev.steer4j.safetensors.SafetensorsFile;
import dev.steer4j.safetensors.SafetensorsWriter;
import dev.steer4j.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * steer4j's own steering-vector file: safetensors with one F32 tensor per module, named by the
 * module path, shape {@code [d]} or {@code [T, d]}, and the set's metadata in {@code __metadata__}.
 */
public final class SteeringVectorFile {
    private SteeringVectorFile() {
    }

    /**
     * Reads a vector file; F32, F16 and BF16 tensors are accepted (converted to float). Malformed
     * files, files with no tensors, tensors of rank other than 1 or 2, and tensors of differing
     * widths give an InvalidInputException whose one-line message names the file.
     */
    public static VectorSet read(Path path) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(path)) {
            if (f.tensors().isEmpty()) {
                throw bad(path, "holds no tensors");
            }
            // the writer stores names sorted as strings; present transformer.h.10 after .h.9
            List<String> names = new ArrayList<>(f.tensors().keySet());
            names.sort(NATURAL);
            VectorSet.Builder b = VectorSet.builder().metadata(f.metadata());
            for (String name : names) {
                TensorInfo t = f.info(name);
                DType dt = t.dtype();
                if (dt != DType.F32 && dt != DType.F16 && dt != DType.BF16) {
                    throw bad(path, "tensor " + name + " is " + dt.code() + "; expected F32, F16 or BF16");
                }
                long[] shape = t.shape();
                int[] dims = new int[shape.length];
                for (int i = 0; i < shape.length; i++) {
                    if (shape[i] > Integer.MAX_VALUE) {
                        throw bad(path, "tensor " + name + " is too large: " + Arrays.toString(shape));
                    }
                    dims[i] = (int) shape[i];
                }
                try {
                    b.put(name, dims, f.toFloatArray(name));
                } catch (InvalidInputException e) {
                    throw bad(path, e.getMessage());
                }
            }
            try {
                return b.build();
            } catch (InvalidInputException e) {
                throw bad(path, e.getMessage());
            }
        } catch (SafetensorsException e) {
            // its message already names the file
            throw new InvalidInputException(e.getMessage(), e);
        }
    }

    /** Writes {@code set} as F32 safetensors, atomically; an empty set is refused. */
    public static void write(Path path, VectorSet set) throws IOException {
        if (set.size() == 0) {
            throw new InvalidInputException("steering vectors " + path + ": refusing to write an empty vector set");
        }
        SafetensorsWriter w = new SafetensorsWriter();
        for (String name : set.names()) {
            long[] shape = Arrays.stream(set.shape(name)).asLongStream().toArray();
            w.addF32(name, shape, set.data(name));
        }
        set.metadata().forEach(w::putMetadata);
        w.write(path);
    }

    private static InvalidInputException bad(Path path, String what) {
        return new InvalidInputException("steering vectors " + path + ": " + what);
    }

    /** Compares digit runs as numbers, so layer indices sort numerically. */
    static final Comparator<String> NATURAL = (a, b) -> {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            char ca = a.charAt(i);
            char cb = b.charAt(j);
            if (digit(ca) && digit(cb)) {
                int si = i;
                int sj = j;
                while (i < a.length() && digit(a.charAt(i))) {
                    i++;
                }
                while (j < b.length() && digit(b.charAt(j))) {
                    j++;
                }
                // compare by length after stripping leading zeros, then lexically
                String na = a.substring(si, i).replaceFirst("^0+(?=.)", "");
                String nb = b.substring(sj, j).replaceFirst("^0+(?=.)", "");
                int c = na.length() != nb.length() ? Integer.compare(na.length(), nb.length()) : na.compareTo(nb);
                if (c != 0) {
                    return c;
                }
            } else {
                if (ca != cb) {
                    return Character.compare(ca, cb);
                }
                i++;
                j++;
            }
        }
        int c = Integer.compare(a.length() - i, b.length() - j);
        return c != 0 ? c : a.compareTo(b);
    };

    private static boolean digit(char c) {
        return c >= '0' && c <= '9';
    }
}
