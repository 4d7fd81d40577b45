package dev.steer4j.generate;

/** One prompt's outcome: its ids, the new ids (EOS included when it stopped there) and the decoded text. */
public record Generation(String prompt, int[] ids, int[] newIds, String text) {}
