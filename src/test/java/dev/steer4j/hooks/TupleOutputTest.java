package dev.steer4j.hooks;

import dev.steer4j.request.Positions;
import dev.steer4j.generate.Generator;
import dev.steer4j.Fixtures;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.Tensors;
import dev.steer4j.runtime.Torch;
import java.nio.file.Path;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A foreign model whose block returns a tuple, as Hugging Face blocks do: the hook edits element 0 only. */
class TupleOutputTest {

    static JitModule leaf(String name, Tensor w) {
        JitModule m = new JitModule(new QualifiedName("__torch__.tupletest." + name));
        m.register_parameter("weight", w, false);
        m.define("def forward(self, ids: Tensor) -> Tensor:\n    return torch.embedding(self.weight, ids)\n");
        return m;
    }

    @Test
    void outputHookOnATupleEditsElementZero(@TempDir Path dir) {
        Torch.load();
        float[] wte = new float[10 * 4];
        for (int i = 0; i < wte.length; i++) wte[i] = (float) Math.sin(i + 1);
        Tensor w = Tensor.create(wte, 10, 4);
        JitModule transformer = new JitModule(new QualifiedName("__torch__.tupletest.Transformer"));
        transformer.register_module("wte", leaf("Wte", w));
        transformer.register_module("wpe", leaf("Wpe", torch.zeros(8, 4)));
        JitModule h = new JitModule(new QualifiedName("__torch__.tupletest.H"));
        JitModule block = new JitModule(new QualifiedName("__torch__.tupletest.Block"));
        block.define("def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:\n    return (x + 1.0, x)\n");
        h.register_module("0", block);
        transformer.register_module("h", h);
        transformer.define("def forward(self, input_ids: Tensor) -> Tensor:\n"
                + "    pos = torch.arange(input_ids.size(1)).unsqueeze(0)\n"
                + "    x = self.wte.forward(input_ids) + self.wpe.forward(pos)\n"
                + "    out = getattr(self.h, \"0\").forward(x)\n"
                + "    return out[0] + out[1]\n");
        JitModule root = new JitModule(new QualifiedName("__torch__.tupletest.Root"));
        root.register_module("transformer", transformer);
        root.define("def forward(self, input_ids: Tensor) -> Tensor:\n"
                + "    return torch.matmul(self.transformer.forward(input_ids), self.transformer.wte.weight.t())\n");
        Path file = dir.resolve("tuple.pt");
        root.save(file.toString());

        Gpt2Model model = Gpt2Model.load(file, Fixtures.TOKENIZER, Devices.parse("cpu"));
        int[][] ids = {{1, 2, 3}};
        float[] v = {0.5f, -1f, 2f, 0.25f};
        float[] plain;
        float[] steered;
        try (HookedModel hm = new HookedModel(model)) {
            plain = new Generator(hm.model(), hm).lastLogits(ids)[0];
            hm.hookOutput("transformer.h.0", new HookOp.Add(Tensors.floats(v, new long[]{4}, model.device(), ScalarType.Float),
                    1.0, Positions.ALL, false));
            steered = new Generator(hm.model(), hm).lastLogits(ids)[0];
        }
        // only element 0 changes, so the output moves by exactly v (not 2v): logits move by W v
        for (int tok = 0; tok < 10; tok++) {
            double wv = 0;
            for (int j = 0; j < 4; j++) wv += wte[tok * 4 + j] * v[j];
            assertEquals(wv, steered[tok] - plain[tok], 1e-5, "token " + tok);
        }
    }
}
