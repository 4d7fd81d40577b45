package dev.steer4j.request;

/**
 * What one request produced: its prompt ids, the new ids (EOS included when it stopped there) and their text.
 *
 * @param id the request's id
 * @param prompt the request's prompt
 * @param ids the prompt's token ids
 * @param newIds the generated token ids
 * @param text the generated text
 * @param finishReason why it stopped
 */
public record Result(String id, String prompt, int[] ids, int[] newIds, String text, FinishReason finishReason) {
    /** Why generation stopped. */
    public enum FinishReason {
        /** The model wrote {@code <|endoftext|>}. */
        EOS,
        /** The request's token limit was reached. */
        LENGTH,
        /** Its caller stopped it (a stop sequence was written). */
        STOP;

        /**
         * The name in steer4j's JSON output (and OpenAI's): {@code eos}, {@code length}, {@code stop}.
         *
         * @return the lower-case name
         */
        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
