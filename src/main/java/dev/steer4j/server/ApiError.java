package dev.steer4j.server;

/**
 * A request the server refuses, as OpenAI words refusals: an HTTP status, a one-line message, the field at fault
 * ({@code param}, may be null) and an error type. Thrown while a request is read; written as
 * {@code {"error": {"message", "type", "param", "code"}}}.
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String param;

    ApiError(int status, String type, String param, String message) {
        super(message, null, false, false);
        this.status = status;
        this.type = type;
        this.param = param;
    }

    /** 400: the request names something wrong; {@code param} is the field. */
    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, message);
    }
}
