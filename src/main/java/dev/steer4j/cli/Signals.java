package dev.steer4j.cli;

/**
 * SIGTERM and SIGINT as a call instead of the JVM's exit: a server shuts down on its own thread, then the command
 * returns 0. With a shutdown hook the JVM would already be exiting (status 143) while requests still ran.
 */
final class Signals {
    private Signals() {}

    @SuppressWarnings("restriction")
    static void onTerminate(Runnable action) {
        for (String name : new String[]{"TERM", "INT"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(name), s -> action.run());
            } catch (IllegalArgumentException e) {
                // a signal this platform or JVM (-Xrs) does not let us handle: its default stays
            }
        }
    }
}
