package dev.steer4j.request;

/** What one request produced: its prompt ids, the new ids (EOS included when it stopped there) and their text. */
public record Result(String id, String prompt, int[] ids, int[] newIds, String text, FinishReason finishReason) {
    public enum FinishReason {
        /** The model wrote {@code <|endoftext|>}. */
        EOS,
        /** The request's token limit was reached. */
        LENGTH;

        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }
}
