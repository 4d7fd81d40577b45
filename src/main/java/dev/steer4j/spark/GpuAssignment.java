package dev.steer4j.spark;

import java.util.Map;
import org.apache.spark.resource.ResourceInformation;

/**
 * The device a task's engine runs on: the first GPU address Spark assigned the task (GPU scheduling:
 * {@code spark.executor.resource.gpu.amount}, {@code spark.task.resource.gpu.amount}, a discovery script),
 * else the configured device.
 */
final class GpuAssignment {
    private GpuAssignment() {}

    static String device(Map<String, ResourceInformation> resources, String configured) {
        ResourceInformation gpu = resources == null ? null : resources.get("gpu");
        if (gpu == null || gpu.addresses().length == 0) return configured;
        return "cuda:" + gpu.addresses()[0].trim();
    }
}
