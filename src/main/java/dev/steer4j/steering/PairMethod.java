package dev.steer4j.steering;

import dev.steer4j.InvalidInputException;

/** How a dataset of contrastive pairs becomes one vector per module. */
public enum PairMethod {
    /** Mean of (positive − negative): Contrastive Activation Addition (Rimsky et al.). */
    MEAN,
    /** First principal component of the (positive − negative) differences (repeng's pca_diff). */
    PCA_DIFF,
    /** First principal component of each activation minus its pair's midpoint (repeng's pca_center). */
    PCA_CENTER;

    public static PairMethod parse(String s) {
        return switch (s) {
            case "mean" -> MEAN;
            case "pca_diff" -> PCA_DIFF;
            case "pca_center" -> PCA_CENTER;
            default -> throw new InvalidInputException("the pair method must be mean, pca_diff or pca_center, got '" + s + "'");
        };
    }
}
