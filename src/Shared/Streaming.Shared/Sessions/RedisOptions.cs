using System.ComponentModel.DataAnnotations;

namespace Streaming.Shared.Sessions;

/// <summary>Configuration section <c>Redis</c> (env: <c>Redis__Configuration</c>).</summary>
public sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>A StackExchange.Redis configuration string, e.g. <c>localhost:6379,abortConnect=false</c>.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Configuration { get; set; } = "";

    /// <summary>Prefix of every session key (several deployments can share one Redis).</summary>
    [Required(AllowEmptyStrings = false)]
    public string KeyPrefix { get; set; } = "s";
}
