package dev.steer4j.model;

import java.util.Locale;
import java.util.Map;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Function;
import org.bytedeco.pytorch.FunctionSchema;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.IntOptional;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.Method;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;

/**
 * steer4j's own GPT-2, written in TorchScript and assembled from Java with the Hugging Face module tree
 * ({@code transformer.wte}, {@code transformer.h.5.attn.c_attn}, …, {@code lm_head}).
 *
 * <p>Every module is its own TorchScript class with its own {@code forward}, so each submodule call is a
 * separate {@code prim::CallMethod} in its parent's graph: that is what the hook engine rewrites. Each
 * instance gets a unique class name because hooks edit a class's graph, and a class shared by several
 * blocks would carry one block's hooks into all of them.
 *
 * <p>Forward signature of the root:
 * {@code forward(input_ids [B,T], position_ids [B,T], key_padding [B,L] bool (True = pad),
 * k_caches, v_caches (per layer [B,H,L,hd], updated in place), past: int, last_only: bool) -> logits},
 * and {@link #GREEDY_STEP} for the greedy decode loop. Optional {@code slots, cols [N], chunks [K,4] (host),
 * select [M]} make it the packed step of chunked prefill (N rows of one token; see TRANSFORMER_HEAD and
 * ATTENTION below): logits {@code [M,1,V]} of the selected rows only.
 */
public final class Gpt2Program {
    private Gpt2Program() {}

    // One row (a decode step at batch 1) goes through gemv: on CPU libtorch's 1-row gemm is ~8x slower.
    private static final String CONV1D = """
            def forward(self, x: Tensor) -> Tensor:
                size_out = x.size()[:-1] + [self.weight.size(1)]
                rows = x.reshape(-1, x.size(-1))
                if rows.size(0) == 1:
                    y = torch.addmv(self.bias, self.weight.t(), rows[0]).unsqueeze(0)
                else:
                    y = torch.addmm(self.bias, rows, self.weight)
                return y.view(size_out)
            """;

    private static final String LAYER_NORM = """
            def forward(self, x: Tensor) -> Tensor:
                return torch.layer_norm(x, [self.weight.size(0)], self.weight, self.bias, %s)
            """;

    private static final String EMBEDDING = """
            def forward(self, ids: Tensor) -> Tensor:
                return torch.embedding(self.weight, ids)
            """;

    private static final String LM_HEAD = """
            def forward(self, x: Tensor) -> Tensor:
                rows = x.reshape(-1, x.size(-1))
                if rows.size(0) == 1:
                    y = torch.mv(self.weight, rows[0]).unsqueeze(0)
                else:
                    y = torch.matmul(rows, self.weight.t())
                return y.view(x.size()[:-1] + [self.weight.size(0)])
            """;

    private static final String MLP = """
            def forward(self, x: Tensor) -> Tensor:
                h = self.c_fc.forward(x)
                h = torch.gelu(h, approximate="tanh")
                return self.c_proj.forward(h)
            """;

    // Default: writes this step's keys and values into the preallocated cache at [past, past + T), then attends
    // over [0, past + T). Packed (write_index given, BatchEngine's chunked prefill): x is N rows of one token;
    // each token's key and value go to its own (slot, column) through write_index, the first S rows (one per
    // slot) attend over the whole cache as a decode step does, and each prompt chunk (desc: slot, first row,
    // length, end column) attends over its own slot's columns [0, end) only. Module calls stay outside the
    // branches: the hook engine finds call sites among a graph's top-level nodes.
    private static final String ATTENTION = """
            def forward(self, x: Tensor, attn_bias: Tensor, k_cache: Tensor, v_cache: Tensor, past: int, write_index: Optional[Tensor] = None, chunk_biases: Optional[List[Tensor]] = None, desc: Optional[List[int]] = None) -> Tensor:
                B = x.size(0)
                T = x.size(1)
                D = x.size(2)
                qkv = self.c_attn.forward(x)
                q = qkv.narrow(2, 0, D).view(B, T, %1$d, %2$d).transpose(1, 2)
                k = qkv.narrow(2, D, D).view(B, T, %1$d, %2$d).transpose(1, 2)
                v = qkv.narrow(2, 2 * D, D).view(B, T, %1$d, %2$d).transpose(1, 2)
                if write_index is not None and chunk_biases is not None and desc is not None:
                    k_cache.view(-1, %2$d).index_copy_(0, write_index, k.reshape(-1, %2$d).to(k_cache.dtype))
                    v_cache.view(-1, %2$d).index_copy_(0, write_index, v.reshape(-1, %2$d).to(v_cache.dtype))
                    S = k_cache.size(0)
                    keys = k_cache.narrow(2, 0, past)
                    values = v_cache.narrow(2, 0, past)
                    parts = [self.attend(q.narrow(0, 0, S), keys, values, attn_bias).transpose(1, 2).reshape(S, 1, D)]
                    for i in range(len(chunk_biases)):
                        n = desc[4 * i + 2]
                        keys = k_cache.narrow(0, desc[4 * i], 1).narrow(2, 0, desc[4 * i + 3])
                        values = v_cache.narrow(0, desc[4 * i], 1).narrow(2, 0, desc[4 * i + 3])
                        parts.append(self.attend(q.narrow(0, desc[4 * i + 1], n).transpose(0, 2), keys, values, chunk_biases[i]).transpose(1, 2).reshape(n, 1, D))
                    y = torch.cat(parts, 0)
                else:
                    k_cache.narrow(2, past, T).copy_(k)
                    v_cache.narrow(2, past, T).copy_(v)
                    keys = k_cache.narrow(2, 0, past + T)
                    values = v_cache.narrow(2, 0, past + T)
                    y = self.attend(q, keys, values, attn_bias).transpose(1, 2).reshape(B, T, D)
                return self.c_proj.forward(y)
            """;

    // One fused op (its default scale is GPT-2's 1/sqrt(head_dim)): measured ~8 % more tokens/s than five
    // separate ops on the tiny model at batch 1, the same within noise on 124M (BENCHMARKS.md). The cache may be
    // float32 under a bfloat16 or float16 model (Gpt2Model.cacheDtype): attention then runs in float32.
    private static final String FUSED_ATTEND = """
            def attend(self, q: Tensor, keys: Tensor, values: Tensor, bias: Tensor) -> Tensor:
                if q.dtype == keys.dtype:
                    return torch.scaled_dot_product_attention(q, keys, values, bias)
                return torch.scaled_dot_product_attention(q.to(keys.dtype), keys, values, bias.to(keys.dtype)).to(q.dtype)
            """;

    // The same written out, for libtorch builds older than scaled_dot_product_attention (2.0): what
    // `export --portable` writes, so that libtorch 1.13 can run the archive.
    private static final String PORTABLE_ATTEND = """
            def attend(self, q: Tensor, keys: Tensor, values: Tensor, bias: Tensor) -> Tensor:
                scores = torch.matmul(q.to(keys.dtype), keys.transpose(2, 3)) * %s + bias.to(keys.dtype)
                return torch.matmul(torch.softmax(scores, -1), values).to(q.dtype)
            """;

    private static String attend(boolean portable, String scale) {
        return portable ? String.format(Locale.ROOT, PORTABLE_ATTEND, scale) : FUSED_ATTEND;
    }

    private static final String BLOCK = """
            def forward(self, x: Tensor, attn_bias: Tensor, k_cache: Tensor, v_cache: Tensor, past: int, write_index: Optional[Tensor] = None, chunk_biases: Optional[List[Tensor]] = None, desc: Optional[List[int]] = None) -> Tensor:
                x = x + self.attn.forward(self.ln_1.forward(x), attn_bias, k_cache, v_cache, past, write_index, chunk_biases, desc)
                x = x + self.mlp.forward(self.ln_2.forward(x))
                return x
            """;

    // attn_bias[b, 0, t, j] is added to the score of query t for key j in row b: the dtype's lowest finite value
    // where t may not see j (a future key or a pad), else 0. Finite, not -inf: a left pad's query sees no key at
    // all, and a finite fill keeps its softmax uniform where -inf would make it NaN (and NaN would reach real
    // rows through the cached values of pad positions).
    // Packed (slots, cols, chunks given): N rows of one token, the first S one per slot. Token r writes at
    // (slots[r], cols[r]), column = position (a slot's request starts at column 0); row b < S sees its slot's
    // columns [0, position_ids[b]] of [0, past); chunk i (chunks[i] = slot, first row, length, end column, a CPU
    // tensor) sees its slot's columns [0, end), causally. Only the columns a token's own request owns are read.
    private static final String TRANSFORMER_HEAD = """
            def forward(self, input_ids: Tensor, position_ids: Tensor, key_padding: Tensor, k_caches: List[Tensor], v_caches: List[Tensor], past: int, slots: Optional[Tensor] = None, cols: Optional[Tensor] = None, chunks: Optional[Tensor] = None) -> Tensor:
                x = self.wte.forward(input_ids) + self.wpe.forward(position_ids)
                write_index: Optional[Tensor] = None
                chunk_biases: List[Tensor] = []
                desc: List[int] = []
                if slots is not None and cols is not None and chunks is not None:
                    S = k_caches[0].size(0)
                    H = k_caches[0].size(1)
                    C = k_caches[0].size(2)
                    heads = torch.arange(H, device=input_ids.device).unsqueeze(0)
                    write_index = ((slots.unsqueeze(1) * H + heads) * C + cols.unsqueeze(1)).reshape(-1)
                    k_pos = torch.arange(0, past, device=input_ids.device).unsqueeze(0)
                    blocked = (k_pos > position_ids.narrow(0, 0, S)).unsqueeze(1).unsqueeze(2)
                    attn_bias = torch.zeros(blocked.size(), dtype=x.dtype, device=x.device).masked_fill(blocked, %1$s)
                    for i in range(chunks.size(0)):
                        n = int(chunks[i, 2])
                        end = int(chunks[i, 3])
                        q_col = torch.arange(end - n, end, device=input_ids.device).unsqueeze(1)
                        k_col = torch.arange(0, end, device=input_ids.device).unsqueeze(0)
                        future = (k_col > q_col).unsqueeze(0).unsqueeze(0)
                        chunk_biases.append(torch.zeros(future.size(), dtype=x.dtype, device=x.device).masked_fill(future, %1$s))
                        desc.extend([int(chunks[i, 0]), int(chunks[i, 1]), n, end])
                else:
                    T = input_ids.size(1)
                    L = past + T
                    q_pos = torch.arange(past, L, device=input_ids.device).unsqueeze(1)
                    k_pos = torch.arange(0, L, device=input_ids.device).unsqueeze(0)
                    future = (k_pos > q_pos).unsqueeze(0).unsqueeze(0)
                    blocked = future | key_padding.narrow(1, 0, L).unsqueeze(1).unsqueeze(2)
                    attn_bias = torch.zeros(blocked.size(), dtype=x.dtype, device=x.device).masked_fill(blocked, %1$s)
            """;

    private static final String ROOT = """
            def forward(self, input_ids: Tensor, position_ids: Tensor, key_padding: Tensor, k_caches: List[Tensor], v_caches: List[Tensor], past: int, last_only: bool, slots: Optional[Tensor] = None, cols: Optional[Tensor] = None, chunks: Optional[Tensor] = None, select: Optional[Tensor] = None) -> Tensor:
                h = self.transformer.forward(input_ids, position_ids, key_padding, k_caches, v_caches, past, slots, cols, chunks)
                if select is not None:
                    h = h.index_select(0, select)
                elif last_only:
                    h = h.narrow(1, h.size(1) - 1, 1)
                return self.lm_head.forward(h)
            """;

    /** Name of the root's greedy decode step (below). */
    public static final String GREEDY_STEP = "greedy_step";

    // A whole greedy decode step in one call from Java: forward on ids [B,1], then the argmax overwrites ids,
    // and the positions [B,1] and the 0-dim CPU counter past advance, all in place. The next step reads the
    // same buffers, so the chosen tokens never leave the device between steps. A row whose logits are not all
    // finite gets -1 (argmax would pick the NaN): the caller fails that request alone.
    private static final String GREEDY_STEP_SOURCE = """
            def greedy_step(self, ids: Tensor, position_ids: Tensor, key_padding: Tensor, k_caches: List[Tensor], v_caches: List[Tensor], past: Tensor) -> None:
                logits = self.forward(ids, position_ids, key_padding, k_caches, v_caches, int(past.item()), True)
                best = torch.argmax(logits, dim=-1)
                ids.copy_(torch.where(torch.isfinite(logits).all(dim=-1), best, torch.full_like(best, -1)))
                position_ids.add_(1)
                past.add_(1)
            """;

    /** Whether {@code root}'s forward has the packed step (an archive of an earlier steer4j does not). */
    public static boolean hasPackedStep(JitModule root) {
        try (Method forward = root.get_method("forward"); Function f = forward.function();
             FunctionSchema schema = f.getSchema(); IntOptional select = schema.argumentIndexWithName("select")) {
            return select.has_value();
        }
    }

    /**
     * Whether {@code root}'s attention takes a cache of another dtype than the model's (an archive of an earlier
     * steer4j does not: its cache must be in the model's dtype).
     */
    public static boolean attendsOverAnyCacheDtype(JitModule root) {
        try (PointerScope scope = new PointerScope()) {
            JitModule attention = ModuleTree.find(root, "transformer.h.0.attn");
            return attention != null && attention.find_method("attend").has_value();
        }
    }

    /** Adds {@link #GREEDY_STEP} to a root built by an earlier steer4j that lacked it. */
    public static void ensureGreedyStep(JitModule root) {
        if (!root.find_method(GREEDY_STEP).has_value()) root.define(GREEDY_STEP_SOURCE);
    }

    /**
     * Builds the module tree. {@code weight} maps a canonical HF name without prefix ({@code h.0.ln_1.weight})
     * to a tensor already in the model's dtype and on its device. {@code maskFill} is the finite value added
     * to blocked attention scores (the dtype's lowest finite value, as Hugging Face does).
     */
    public static JitModule build(GPT2Config c, java.util.function.Function<String, Tensor> weight, double maskFill) {
        return build(c, weight, maskFill, false);
    }

    /** As above; {@code portable} writes attention out instead of scaled_dot_product_attention (libtorch 1.13). */
    public static JitModule build(GPT2Config c, java.util.function.Function<String, Tensor> weight, double maskFill, boolean portable) {
        int headDim = c.nEmbd() / c.nHead();
        JitModule transformer = module("GPT2Model", "transformer");
        transformer.register_module("wte", leaf("Embedding", "wte", EMBEDDING, weight.apply("wte.weight"), null));
        transformer.register_module("wpe", leaf("Embedding", "wpe", EMBEDDING, weight.apply("wpe.weight"), null));
        JitModule blocks = module("ModuleList", "h");
        String eps = literal(c.layerNormEpsilon());
        for (int i = 0; i < c.nLayer(); i++) {
            String p = "h." + i + ".";
            JitModule block = module("GPT2Block", "h" + i);
            block.register_module("ln_1", layerNorm(p + "ln_1", weight, eps));
            JitModule attn = module("GPT2Attention", "h" + i + "_attn");
            attn.register_module("c_attn", conv1d(p + "attn.c_attn", weight));
            attn.register_module("c_proj", conv1d(p + "attn.c_proj", weight));
            String scale = literal(1.0 / Math.sqrt(headDim));
            attn.define(attend(portable, scale));
            attn.define(String.format(Locale.ROOT, ATTENTION, c.nHead(), headDim));
            block.register_module("attn", attn);
            block.register_module("ln_2", layerNorm(p + "ln_2", weight, eps));
            JitModule mlp = module("GPT2MLP", "h" + i + "_mlp");
            mlp.register_module("c_fc", conv1d(p + "mlp.c_fc", weight));
            mlp.register_module("c_proj", conv1d(p + "mlp.c_proj", weight));
            mlp.define(MLP);
            block.register_module("mlp", mlp);
            block.define(BLOCK);
            blocks.register_module(Integer.toString(i), block);
        }
        transformer.register_module("h", blocks);
        transformer.register_module("ln_f", layerNorm("ln_f", weight, eps));
        StringBuilder src = new StringBuilder(String.format(Locale.ROOT, TRANSFORMER_HEAD, literal(maskFill)));
        for (int i = 0; i < c.nLayer(); i++) {
            src.append(String.format(Locale.ROOT,
                    "    x = getattr(self.h, \"%1$d\").forward(x, attn_bias, k_caches[%1$d], v_caches[%1$d], past, write_index, chunk_biases, desc)%n", i));
        }
        src.append("    return self.ln_f.forward(x)\n");
        transformer.define(src.toString());

        JitModule root = module("GPT2LMHeadModel", "root");
        root.register_module("transformer", transformer);
        // Tied: lm_head holds the same tensor as wte, so it is stored once.
        root.register_module("lm_head", leaf("LMHead", "lm_head", LM_HEAD, weight.apply("wte.weight"), null));
        root.define(ROOT);
        root.define(GREEDY_STEP_SOURCE);
        return root;
    }

    private static JitModule layerNorm(String name, java.util.function.Function<String, Tensor> weight, String eps) {
        return leaf("LayerNorm", name, String.format(Locale.ROOT, LAYER_NORM, eps),
                weight.apply(name + ".weight"), weight.apply(name + ".bias"));
    }

    private static JitModule conv1d(String name, java.util.function.Function<String, Tensor> weight) {
        return leaf("Conv1D", name, CONV1D, columnMajor(weight.apply(name + ".weight")), weight.apply(name + ".bias"));
    }

    /**
     * A Conv1D weight ({@code [in, out]}) with the same shape and values, its memory laid out as nn.Linear's
     * {@code [out, in]}: addmm and addmv then hand BLAS the transposed operand, which OpenBLAS packs far faster
     * per call when the weights stream from memory (BENCHMARKS.md, "The gemm's layout"). No copy if already so.
     */
    public static Tensor columnMajor(Tensor w) {
        return w.t().contiguous().t();
    }

    /**
     * Lays out the Conv1D weights of a program loaded from an archive of an earlier steer4j as {@link #columnMajor}
     * does; an archive saved since keeps the layout (TorchScript stores strides). One weight at a time, each old
     * one freed before the next is copied.
     */
    public static void columnMajorConv1D(JitModule root) {
        for (Map.Entry<String, JitModule> e : ModuleTree.modules(root).entrySet()) {
            if (!isConv1DWeight(e.getKey() + ".weight")) continue;
            if (!e.getValue().hasattr("weight")) continue; // the config check says what is missing
            try (IValue attr = e.getValue().attr("weight")) {
                if (!attr.isTensor()) continue;
                try (Tensor w = attr.toTensor()) {
                    if (w.dim() != 2 || !w.is_contiguous()) continue;
                    try (Tensor relaid = columnMajor(w); IValue value = new IValue(relaid)) {
                        e.getValue().setattr("weight", value);
                    }
                }
            }
        }
    }

    /** A Conv1D weight by its dotted name, with or without the {@code transformer.} prefix. */
    static boolean isConv1DWeight(String name) {
        return name.matches("(transformer\\.)?h\\.\\d+\\.(attn\\.c_attn|attn\\.c_proj|mlp\\.c_fc|mlp\\.c_proj)\\.weight");
    }

    private static JitModule leaf(String kind, String name, String src, Tensor w, Tensor b) {
        JitModule m = module(kind, name);
        m.register_parameter("weight", w, false);
        if (b != null) {
            m.register_parameter("bias", b, false);
        }
        m.define(src);
        return m;
    }

    /** A module of its own TorchScript class: {@code __torch__.steer4j.gpt2.<Kind>_<where>}. */
    private static JitModule module(String kind, String where) {
        String suffix = where.replaceAll("[^A-Za-z0-9]", "_");
        return new JitModule(new QualifiedName("__torch__.steer4j.gpt2." + kind + "_" + suffix));
    }

    private static String literal(double v) {
        return String.format(Locale.ROOT, "%.17e", v);
    }
}
