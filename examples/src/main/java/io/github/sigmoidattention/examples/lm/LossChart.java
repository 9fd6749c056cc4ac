package io.github.sigmoidattention.examples.lm;

import io.github.sigmoidattention.examples.FineTuneComparison;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The loss curves of a {@link FineTuneComparison} as a PNG: validation loss and smoothed training loss per variant. */
public final class LossChart {

    private static final Color[] COLORS = {
        new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
        new Color(0x9467bd), new Color(0x8c564b)
    };

    private LossChart() {}

    /**
     * Draws the chart.
     *
     * @param file the PNG to write
     * @param runs the trained variants
     * @param steps the number of training steps (the x range)
     * @throws IOException if the file cannot be written
     */
    public static void write(Path file, List<FineTuneComparison.Run> runs, int steps) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYSeriesCollection data = new XYSeriesCollection();
        for (FineTuneComparison.Run run : runs) {
            XYSeries validation = new XYSeries(run.variant().label() + ": validation");
            for (double[] point : run.validationLoss()) {
                validation.add(point[0], point[1]);
            }
            XYSeries train = new XYSeries(run.variant().label() + ": training (moving average)");
            double average = Double.NaN;
            List<Double> losses = run.trainLoss();
            for (int i = 0; i < losses.size(); i++) {
                // An exponential moving average over ~20 steps: the per-batch loss is noisy.
                average = Double.isNaN(average) ? losses.get(i) : 0.95 * average + 0.05 * losses.get(i);
                train.add(i + 1, average);
            }
            data.addSeries(validation);
            data.addSeries(train);
        }
        JFreeChart chart =
                ChartFactory.createXYLineChart(
                        "Character-level LM on Tiny Shakespeare: softmax vs sigmoid attention",
                        "training step",
                        "cross-entropy (nats per character)",
                        data,
                        PlotOrientation.VERTICAL,
                        true,
                        false,
                        false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getDomainAxis().setRange(0, Math.max(1, steps));
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer();
        for (int i = 0; i < runs.size(); i++) {
            Color color = COLORS[i % COLORS.length];
            renderer.setSeriesPaint(2 * i, color);
            renderer.setSeriesShapesVisible(2 * i, true);
            renderer.setSeriesStroke(2 * i, new BasicStroke(2.5f));
            renderer.setSeriesPaint(2 * i + 1, color);
            renderer.setSeriesShapesVisible(2 * i + 1, false);
            renderer.setSeriesStroke(
                    2 * i + 1,
                    new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {4f, 4f}, 0f));
        }
        plot.setRenderer(renderer);
        ChartUtils.saveChartAsPNG(file.toFile(), chart, 1100, 650);
    }
}
