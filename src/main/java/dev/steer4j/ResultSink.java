package dev.steer4j;

import dev.steer4j.request.Request;
import dev.steer4j.request.Result;

/** Where the outcomes of {@link Session#run(java.util.Iterator, int, ResultSink)} go, in the order requests finish. */
public interface ResultSink {
    /**
     * A request finished.
     *
     * @param result its result
     */
    void completed(Result result);

    /**
     * A request could not run; the others go on.
     *
     * @param request the request
     * @param message why, in one line
     */
    void failed(Request request, String message);
}
