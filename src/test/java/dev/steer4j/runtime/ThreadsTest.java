package dev.steer4j.runtime;

import dev.steer4j.InvalidInputException;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** steer4j sets libtorch's threads itself; STEER4J_THREADS / -Dsteer4j.threads override. */
class ThreadsTest {
    @Test
    void defaultsOverridesAndBadValues() {
        Torch.load();
        assertEquals(Threads.defaultIntraOpThreads(), torch.get_num_threads(), "the default applies when libtorch loads");
        try {
            System.setProperty(Threads.PROPERTY, "2");
            Threads.apply();
            assertEquals(2, torch.get_num_threads());
            assertEquals("STEER4J_THREADS=2", Threads.report().get("policy"));
            System.setProperty(Threads.PROPERTY, "many");
            assertTrue(assertThrows(InvalidInputException.class, Threads::apply).getMessage().contains("'many'"));
            System.setProperty(Threads.PROPERTY, "0");
            assertThrows(InvalidInputException.class, Threads::apply);
        } finally {
            System.clearProperty(Threads.PROPERTY);
            Threads.apply();
        }
        assertEquals(Threads.defaultIntraOpThreads(), torch.get_num_threads());
    }
}
