package org.gptaq;

/** What {@link Gptq#readQuantizeConfig} read: the configuration and the checkpoint format. */
public final class QuantizeConfigFile {
  public final Config config;
  public final GptqFormat format;

  QuantizeConfigFile(Config config, GptqFormat format) {
    this.config = config;
    this.format = format;
  }
}
