/**
 * Anthropic's Messages API fields: their policy (the same three kinds as the OpenAI fields, checked against
 * docs/anthropic-api.md by a test) and the conversion of a Messages request into the chat completion it
 * amounts to, which then goes through `chatJob` (service/http/openai/fields.ts), the one place that maps
 * request fields to engine options. Tool `input_schema`s and `output_config.format` schemas therefore go
 * through the same grammar converter as OpenAI's tool parameters and `json_schema` response formats.
 *
 * The conversion follows llama-server's (ggml-org/llama.cpp tools/server/server-chat.cpp
 * `server_chat_convert_anthropic_to_oai`): system blocks become one system message, `tool_use` blocks become
 * assistant tool calls with their `input` as JSON arguments, `tool_result` blocks become tool messages,
 * `stop_sequences` is `stop`. Where this server differs: `tool_choice` `tool` forces the named tool (llama-server
 * maps it to "required", any tool) and `none` hides the tools; blocks this server cannot render (images,
 * documents, server tools) are a 400 naming the block instead of being dropped; `max_tokens` is required, as
 * Anthropic requires it (llama-server defaults it to 4096).
 *
 * Errors are checked here with Anthropic's field names before `chatJob` sees the request, so a client reads
 * `messages[2].content[0].tool_use_id`, not the OpenAI field the request was converted to.
 */
import type { GenerationInput } from '../engine-port.js';
import { badRequest } from '../errors.js';
import { chatJob, ignored, implemented, isNull, refuseUnsupported, refused, type FieldPolicy, type Job, type MapperSettings } from '../openai/fields.js';
import { schemaGrammarOrBadRequest, toolParametersOrBadRequest } from '../openai/json-schema.js';
import type { ChatCompletionBody } from '../schemas.js';
import type { CountTokensBody, MessagesBody } from './schemas.js';

/**
 * The `thinking` policy. Thinking blocks are never returned: the model's chat template decides whether the
 * model reasons, and its thoughts are kept out of the answer (service/inference/generation.ts keeps the main
 * response only), so there is no budget to apply. The field is still validated as Anthropic validates it
 * (budget_tokens at least 1024 and below max_tokens), so a request that works here works there.
 * `thinking` and `redacted_thinking` blocks of earlier assistant turns are dropped from the prompt, as
 * Anthropic drops them from turns before the last.
 */
export const minThinkingBudget = 1024;

export const messagesFieldPolicy: Record<keyof MessagesBody, FieldPolicy> = {
  model: implemented(
    'must name the served model (`GET /v1/models`); another name is 404 `not_found_error` unless `MODEL_NAMES=any` (which serves any name, e.g. `claude-...` hard-coded in a client)',
  ),
  max_tokens: implemented('required; largest number of generated tokens, at most `MAX_COMPLETION_LENGTH`'),
  messages: implemented(
    "user and assistant turns; `text`, `tool_use` (assistant) and `tool_result` (user, string or text blocks) blocks, rendered with the model's own chat template; a trailing assistant turn is continued (prefill); `thinking` blocks are dropped; a tool_result's `is_error` is not shown (chat templates have no place for it); other blocks (image, document, ...) are a 400 naming the block",
  ),
  system: implemented('a string or text blocks (joined with a blank line), rendered as the system message'),
  stop_sequences: implemented(
    'stop strings; the answer ends before the first one, with `stop_reason` `stop_sequence` and the string that matched in `stop_sequence`',
  ),
  stream: implemented('typed server-sent events: message_start, content_block_start/delta/stop (text_delta, input_json_delta), message_delta, message_stop'),
  temperature: implemented("sampling temperature, 0 to 1 (Anthropic's range); default `DEFAULT_TEMPERATURE` (1)"),
  top_p: implemented('nucleus sampling; default `DEFAULT_TOP_P` (1 = off)'),
  top_k: implemented('keep the k most likely tokens; 0 = off; default `DEFAULT_TOP_K` (40)'),
  tools: implemented(
    'client tools (`name`, `description`, `input_schema`), rendered by the chat template; the input is generated under a grammar from `input_schema` (the converter OpenAI tool parameters and `json_schema` formats use: a keyword it cannot enforce is a 400 naming it and its JSON pointer); server tools (a `type` other than `custom`) are a 400',
  ),
  tool_choice: implemented(
    '`auto`, `any` (a call is forced), `tool` (the named tool is forced), `none` (the tools are not offered); `disable_parallel_tool_use` allows one call',
  ),
  thinking: ignored(
    `no thinking blocks are returned: the chat template decides whether the model reasons and its thoughts are kept out of the answer; validated as Anthropic does (budget_tokens >= ${minThinkingBudget} and below max_tokens)`,
    { type: 'enabled', budget_tokens: minThinkingBudget },
  ),
  output_config: implemented(
    "`format` `json_schema`: the answer is JSON matching the schema (the grammar converter of OpenAI's json_schema; a keyword it cannot enforce is a 400 naming it); `effort` is ignored; not with tools",
  ),
  metadata: ignored('`user_id` is for Anthropic abuse monitoring; nothing here is monitored per user', { user_id: 'user-1' }),
  service_tier: ignored('there is one tier', 'standard_only'),
  cache_control: ignored('prompt reuse is automatic (PROMPT_CACHE): the longest cached prefix of every prompt is reused without markers', {
    type: 'ephemeral',
  }),
  container: refused('code execution containers are not supported', 'container-1', 'null'),
  mcp_servers: refused(
    'this server calls no MCP servers; declare their tools in `tools` and run them in the client',
    [{ type: 'url', url: 'https://mcp.example', name: 'x' }],
    'an empty list',
    (v) => isNull(v) || (Array.isArray(v) && v.length === 0),
  ),
};

export const countTokensFieldPolicy: Record<keyof CountTokensBody, FieldPolicy> = {
  model: messagesFieldPolicy.model,
  messages: messagesFieldPolicy.messages,
  system: messagesFieldPolicy.system,
  tools: messagesFieldPolicy.tools,
  tool_choice: messagesFieldPolicy.tool_choice,
  thinking: messagesFieldPolicy.thinking,
  output_config: messagesFieldPolicy.output_config,
  cache_control: messagesFieldPolicy.cache_control,
};

interface PlainMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

type Block = Extract<CountTokensBody['messages'][number]['content'], unknown[]>[number];

/** Text of `system` or of a tool_result's blocks: only text blocks. */
function textBlocks(blocks: ReadonlyArray<{ type: string; text?: string | undefined }>, where: string, separator: string): string {
  return blocks
    .map((b, j) => {
      if (b.type === 'text' && typeof b.text === 'string') return b.text;
      throw badRequest(
        `${where}[${j}]: blocks of type '${b.type}' are not supported here; only text blocks are.`,
        `${where}[${j}].type`,
        'unsupported_content',
      );
    })
    .join(separator);
}

function unsupportedBlock(block: Block, where: string, role: string): never {
  const known = role === 'user' ? "'text' and 'tool_result'" : "'text', 'tool_use' and 'thinking'";
  throw badRequest(
    `${where}: content blocks of type '${block.type}' are not supported by this server in ${role} messages (${known} are).`,
    `${where}.type`,
    'unsupported_content',
  );
}

/** Anthropic's messages (and system) as chat messages, checked with Anthropic's field names. */
function chatMessagesOf(body: CountTokensBody): PlainMessage[] {
  const out: PlainMessage[] = [];
  if (body.system !== undefined) {
    const system = typeof body.system === 'string' ? body.system : textBlocks(body.system, 'system', '\n\n');
    if (system !== '') out.push({ role: 'system', content: system });
  }
  const toolUseIds = new Set<string>();
  body.messages.forEach((m, i) => {
    const where = `messages[${i}]`;
    if (typeof m.content === 'string') {
      out.push({ role: m.role, content: m.content });
      return;
    }
    const texts: string[] = [];
    if (m.role === 'assistant') {
      const calls: NonNullable<PlainMessage['tool_calls']> = [];
      m.content.forEach((block, j) => {
        const at = `${where}.content[${j}]`;
        if (block.type === 'text') texts.push(block.text ?? '');
        else if (block.type === 'tool_use') {
          if (block.id === undefined || block.name === undefined) {
            throw badRequest(
              `${at}: a tool_use block needs an id and a name.`,
              `${at}.${block.id === undefined ? 'id' : 'name'}`,
              'missing_required_parameter',
            );
          }
          toolUseIds.add(block.id);
          calls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
        } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') unsupportedBlock(block, at, 'assistant');
      });
      // An assistant turn of thinking blocks only has nothing to render (llama-server skips it too).
      if (texts.length === 0 && calls.length === 0) return;
      out.push({
        role: 'assistant',
        content: calls.length > 0 && texts.join('') === '' ? null : texts.join(''),
        ...(calls.length > 0 ? { tool_calls: calls } : {}),
      });
      return;
    }
    m.content.forEach((block, j) => {
      const at = `${where}.content[${j}]`;
      if (block.type === 'text') texts.push(block.text ?? '');
      else if (block.type === 'tool_result') {
        if (block.tool_use_id === undefined || !toolUseIds.has(block.tool_use_id)) {
          throw badRequest(
            `${at}: a tool_result must answer a tool_use block of an earlier assistant message; no tool_use has id '${block.tool_use_id ?? ''}'.`,
            `${at}.tool_use_id`,
            'invalid_value',
          );
        }
        toolUseIds.delete(block.tool_use_id);
        const content = block.content === undefined ? '' : typeof block.content === 'string' ? block.content : textBlocks(block.content, `${at}.content`, '');
        out.push({ role: 'tool', content, tool_call_id: block.tool_use_id });
      } else unsupportedBlock(block, at, 'user');
    });
    if (texts.length > 0) out.push({ role: 'user', content: texts.join('') });
  });
  return out;
}

function toolsOf(body: CountTokensBody): Pick<ChatCompletionBody, 'tools' | 'tool_choice' | 'parallel_tool_calls'> {
  const tools = body.tools ?? [];
  const names = new Set<string>();
  const chatTools = tools.map((t, i) => {
    if (t.type != null && t.type !== 'custom') {
      throw badRequest(
        `tools[${i}]: server tools (type '${t.type}') are not supported by this server; declare client tools (input_schema) and run them in the client.`,
        `tools[${i}].type`,
        'unsupported_value',
      );
    }
    if (t.input_schema === undefined) throw badRequest(`tools[${i}]: input_schema is required.`, `tools[${i}].input_schema`, 'missing_required_parameter');
    if (names.has(t.name)) throw badRequest(`tools[${i}]: the tool name '${t.name}' is declared twice.`, `tools[${i}].name`, 'invalid_value');
    names.add(t.name);
    // Checked here for an error that names Anthropic's field; chatJob converts the same schema again.
    toolParametersOrBadRequest(t.input_schema, `tools[${i}].input_schema`);
    return {
      type: 'function' as const,
      function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.input_schema },
    };
  });
  const choice = body.tool_choice;
  if (choice === undefined) return chatTools.length > 0 ? { tools: chatTools } : {};
  if (choice.type === 'none') return { tool_choice: 'none' };
  if (chatTools.length === 0 && choice.type === 'auto') return {};
  if (chatTools.length === 0) throw badRequest(`tool_choice of type '${choice.type}' needs at least one tool in tools.`, 'tool_choice', 'invalid_value');
  const parallel = choice.disable_parallel_tool_use === true ? { parallel_tool_calls: false } : {};
  if (choice.type === 'tool') {
    if (!names.has(choice.name)) throw badRequest(`tool_choice names the tool '${choice.name}', which is not in tools.`, 'tool_choice.name', 'invalid_value');
    return { tools: chatTools, tool_choice: { type: 'function', function: { name: choice.name } }, ...parallel };
  }
  return { tools: chatTools, tool_choice: choice.type === 'any' ? 'required' : 'auto', ...parallel };
}

function checkThinking(thinking: CountTokensBody['thinking'], maxTokens: number | undefined): void {
  if (thinking === undefined) return;
  if (thinking.type !== 'enabled') {
    if (thinking.budget_tokens !== undefined)
      throw badRequest(`thinking.budget_tokens applies only to thinking of type 'enabled'.`, 'thinking.budget_tokens', 'invalid_value');
    return;
  }
  const budget = thinking.budget_tokens;
  if (budget === undefined)
    throw badRequest('thinking.budget_tokens is required when thinking is enabled.', 'thinking.budget_tokens', 'missing_required_parameter');
  if (budget < minThinkingBudget) throw badRequest(`thinking.budget_tokens must be at least ${minThinkingBudget}.`, 'thinking.budget_tokens', 'invalid_value');
  if (maxTokens !== undefined && budget >= maxTokens)
    throw badRequest(`max_tokens must be greater than thinking.budget_tokens (${budget}).`, 'max_tokens', 'invalid_value');
}

/** The chat completion request a Messages (or count_tokens) request amounts to. */
function asChat(body: CountTokensBody, sampling: Partial<ChatCompletionBody>): ChatCompletionBody {
  const tools = toolsOf(body);
  const format = body.output_config?.format ?? undefined;
  if (format != null) {
    if (tools.tools !== undefined && tools.tool_choice !== 'none') {
      throw badRequest(
        'output_config.format cannot be combined with tools on this server; send tool_choice {type: "none"} or drop the format.',
        'output_config.format',
        'unsupported_value',
      );
    }
    schemaGrammarOrBadRequest(format.schema, 'output_config.format.schema');
  }
  return {
    model: body.model,
    messages: chatMessagesOf(body) as unknown as ChatCompletionBody['messages'],
    ...tools,
    ...(format != null ? { response_format: { type: 'json_schema', json_schema: { name: 'output', schema: format.schema, strict: true } } } : {}),
    ...sampling,
  };
}

/** A Messages request as the generation job of its chat completion. */
export function messagesJob(body: MessagesBody, settings: MapperSettings): Job {
  refuseUnsupported(body, messagesFieldPolicy);
  checkThinking(body.thinking, body.max_tokens);
  const chat = asChat(body, {
    max_tokens: body.max_tokens,
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined ? { top_p: body.top_p } : {}),
    ...(body.top_k !== undefined ? { top_k: body.top_k } : {}),
    ...(body.stop_sequences !== undefined ? { stop: body.stop_sequences } : {}),
  });
  return { ...chatJob(chat, settings), stream: body.stream === true, includeUsage: false };
}

/** What count_tokens counts: the prompt the same Messages request would evaluate. */
export function countTokensInput(body: CountTokensBody, settings: MapperSettings): GenerationInput {
  refuseUnsupported(body, countTokensFieldPolicy);
  checkThinking(body.thinking, undefined);
  return chatJob(asChat(body, {}), settings).input;
}
