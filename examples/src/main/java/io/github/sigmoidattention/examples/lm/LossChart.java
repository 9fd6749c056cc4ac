package io.github.sigmoidattention.examples.lm;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The loss curves of a {@link io.github.sigmoidattention.examples.FineTuneComparison} as a PNG:
 * validation loss and smoothed training loss per variant, the whole run on the left and its last
 * 40% zoomed on the right. Its {@link #main} draws the chart of a run's {@code losses.csv}, for
 * machines whose Java runtime cannot render text (no font libraries).
 */
public final class LossChart {

    /**
     * One variant's losses.
     *
     * @param label the variant's name in the legend
     * @param trainLoss the training loss of every step
     * @param validationLoss (step, loss) pairs
     */
    public record Curve(String label, List<Double> trainLoss, List<double[]> validationLoss) {}

    private static final Color[] COLORS = {
        new Color(0x1f77b4),
        new Color(0xd62728),
        new Color(0x2ca02c),
        new Color(0xff7f0e),
        new Color(0x9467bd),
        new Color(0x8c564b)
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
    public static void write(Path file, List<Curve> runs, int steps) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYSeriesCollection data = new XYSeriesCollection();
        for (Curve run : runs) {
            XYSeries validation = new XYSeries(run.label() + ": validation");
            for (double[] point : run.validationLoss()) {
                validation.add(point[0], point[1]);
            }
            XYSeries train = new XYSeries(run.label() + ": training (moving average)");
            double average = Double.NaN;
            List<Double> losses = run.trainLoss();
            for (int i = 0; i < losses.size(); i++) {
                // An exponential moving average over ~20 steps: the per-batch loss is noisy.
                average =
                        Double.isNaN(average)
                                ? losses.get(i)
                                : 0.95 * average + 0.05 * losses.get(i);
                train.add(i + 1, average);
            }
            data.addSeries(validation);
            data.addSeries(train);
        }
        // Left: the whole run. Right: its last 40%, where the variants' final losses sit within a
        // few hundredths of a nat and would overlap at the scale of the first steps.
        double zoomFrom = Math.floor(0.6 * steps);
        JFreeChart full =
                chart(
                        "Character-level LM on Tiny Shakespeare: softmax vs sigmoid attention",
                        data,
                        runs.size(),
                        0,
                        Math.max(1, steps),
                        true);
        JFreeChart zoom =
                chart(
                        "Last 40% of training, zoomed",
                        data, runs.size(), zoomFrom, Math.max(zoomFrom + 1, steps), false);
        double[] range = range(data, zoomFrom);
        if (range[1] > range[0]) {
            double pad = 0.05 * (range[1] - range[0]);
            zoom.getXYPlot().getRangeAxis().setRange(range[0] - pad, range[1] + pad);
        }
        BufferedImage image = new BufferedImage(1700, 650, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        full.draw(g, new Rectangle2D.Double(0, 0, 1100, 650));
        zoom.draw(g, new Rectangle2D.Double(1100, 0, 600, 650));
        g.dispose();
        ImageIO.write(image, "png", file.toFile());
    }

    /**
     * Draws the chart of a {@code losses.csv} written by {@link
     * io.github.sigmoidattention.examples.FineTuneComparison}.
     *
     * @param args the CSV, then the PNG to write
     * @throws IOException if a file cannot be read or written
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            throw new IllegalArgumentException(
                    "usage: LossChart LOSSES_CSV OUTPUT_PNG, got " + args.length + " arguments");
        }
        List<Curve> curves = readCsv(Paths.get(args[0]));
        int steps = curves.stream().mapToInt(c -> c.trainLoss().size()).max().orElse(0);
        write(Paths.get(args[1]), curves, steps);
    }

    /**
     * Reads the curves of a {@code losses.csv} (variant, step, train_loss, validation_loss).
     *
     * @param csv the file
     * @return one curve per variant, in the file's order
     * @throws IOException if the file cannot be read or is not such a CSV
     */
    public static List<Curve> readCsv(Path csv) throws IOException {
        Map<String, Curve> curves = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        if (lines.isEmpty() || !lines.get(0).equals("variant,step,train_loss,validation_loss")) {
            throw new IOException(csv + " is not a losses.csv: its header is not variant,step,...");
        }
        for (int i = 1; i < lines.size(); i++) {
            String[] cells = lines.get(i).split(",", -1);
            if (cells.length != 4) {
                throw new IOException(csv + " line " + (i + 1) + ": expected 4 cells");
            }
            Curve curve =
                    curves.computeIfAbsent(
                            cells[0],
                            name ->
                                    new Curve(
                                            AttentionVariant.valueOf(name).label(),
                                            new ArrayList<>(),
                                            new ArrayList<>()));
            int step = Integer.parseInt(cells[1]);
            if (!cells[2].isEmpty()) {
                curve.trainLoss().add(Double.parseDouble(cells[2]));
            }
            if (!cells[3].isEmpty()) {
                curve.validationLoss().add(new double[] {step, Double.parseDouble(cells[3])});
            }
        }
        return new ArrayList<>(curves.values());
    }

    /** The smallest and largest loss at or after step {@code from}, over every series. */
    private static double[] range(XYSeriesCollection data, double from) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (int s = 0; s < data.getSeriesCount(); s++) {
            XYSeries series = data.getSeries(s);
            for (int i = 0; i < series.getItemCount(); i++) {
                if (series.getX(i).doubleValue() >= from) {
                    double y = series.getY(i).doubleValue();
                    lo = Math.min(lo, y);
                    hi = Math.max(hi, y);
                }
            }
        }
        return new double[] {lo, hi};
    }

    private static JFreeChart chart(
            String title,
            XYSeriesCollection data,
            int variants,
            double from,
            double to,
            boolean legend) {
        JFreeChart chart =
                ChartFactory.createXYLineChart(
                        title,
                        "training step",
                        "cross-entropy (nats per character)",
                        data,
                        PlotOrientation.VERTICAL,
                        legend,
                        false,
                        false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getDomainAxis().setRange(from, to);
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer();
        for (int i = 0; i < variants; i++) {
            Color color = COLORS[i % COLORS.length];
            renderer.setSeriesPaint(2 * i, color);
            renderer.setSeriesShapesVisible(2 * i, true);
            renderer.setSeriesStroke(2 * i, new BasicStroke(2.5f));
            renderer.setSeriesPaint(2 * i + 1, color);
            renderer.setSeriesShapesVisible(2 * i + 1, false);
            renderer.setSeriesStroke(
                    2 * i + 1,
                    new BasicStroke(
                            1f,
                            BasicStroke.CAP_BUTT,
                            BasicStroke.JOIN_MITER,
                            10f,
                            new float[] {4f, 4f},
                            0f));
        }
        plot.setRenderer(renderer);
        return chart;
    }
}
