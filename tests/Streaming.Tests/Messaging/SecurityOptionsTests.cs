using System.ComponentModel.DataAnnotations;
using Confluent.Kafka;
using Streaming.Shared.Messaging;
using Streaming.Shared.Sessions;

namespace Streaming.Tests.Messaging;

/// <summary>The security settings the services accept, and the start-up messages that name the key to fix.</summary>
public sealed class SecurityOptionsTests
{
    [Fact]
    public void Kafka_SaslSslWithUserAndPassword_ConfiguresEveryClient()
    {
        var options = new KafkaOptions { BootstrapServers = "kafka:9093", SecurityProtocol = "sasl_ssl", SaslUsername = "streaming-ingest", SaslPassword = "secret", SslCaLocation = "/ca.crt" };

        Assert.Empty(Failures(options));
        foreach (ClientConfig config in new ClientConfig[] { options.ConsumerConfig("g"), options.ProducerConfig(), options.AdminConfig() })
        {
            Assert.Equal((SecurityProtocol.SaslSsl, SaslMechanism.ScramSha512, "streaming-ingest", "secret", "/ca.crt"),
                (config.SecurityProtocol, config.SaslMechanism, config.SaslUsername, config.SaslPassword, config.SslCaLocation));
        }
    }

    [Theory]
    [InlineData("sasl_ssl", "", "secret", "Kafka:SaslUsername is required")]
    [InlineData("sasl_ssl", "user", "", "Kafka:SaslPassword is required")]
    [InlineData("plaintext", "user", "secret", "need Kafka:SecurityProtocol sasl_ssl")]
    [InlineData("tls", "", "", "Kafka:SecurityProtocol 'tls' is not one of")]
    public void Kafka_InconsistentSecurity_FailsNamingTheKey(string protocol, string user, string password, string expected)
    {
        var options = new KafkaOptions { BootstrapServers = "kafka:9093", SecurityProtocol = protocol, SaslUsername = user, SaslPassword = password };

        Assert.Contains(Failures(options), f => f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Redis_UserPasswordAndTls_OverrideTheConfigurationString()
    {
        var options = new RedisOptions { Configuration = "redis:6379,abortConnect=false", User = "ingest", Password = "secret", Tls = true };

        var connection = options.ToConfigurationOptions();

        Assert.Empty(Failures(options));
        Assert.Equal(("ingest", "secret", true), (connection.User, connection.Password, connection.Ssl));
    }

    [Fact]
    public void Redis_UserWithoutPassword_FailsNamingTheKey() =>
        Assert.Contains(Failures(new RedisOptions { Configuration = "redis:6379", User = "ingest" }), f => f.Contains("Redis:Password is required", StringComparison.Ordinal));

    private static List<string> Failures(object options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return [.. results.Select(r => r.ErrorMessage ?? "")];
    }
}
